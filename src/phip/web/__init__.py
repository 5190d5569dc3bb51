"""The web face: the FHIR R4 API at /fhir, the platform API at /api (FastAPI)."""
