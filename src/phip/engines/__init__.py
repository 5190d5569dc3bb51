"""Analytical engines: DuckDB embedded (default) and Apache Spark (`PHIP_ENGINE=spark`)."""
