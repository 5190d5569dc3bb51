"""FHIR helpers every layer above the standards shares: NDJSON files, references."""
