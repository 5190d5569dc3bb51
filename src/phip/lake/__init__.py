"""The analytical lake: SQL-on-FHIR v2 views compiled to SQL for DuckDB and Spark (issue 6)."""
