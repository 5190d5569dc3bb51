"""Pure national and international standards: identity numbers, divisions, sex, ethnicity,
ICD-10, facility types and grades, and their FHIR codings. No I/O except packaged data."""
