"""The synthetic province: facilities, residents and everything facilities submit, as FHIR R4
NDJSON with ground truth and injected defects (`phip synth`)."""

from phip.synth.config import DefectRates, SynthConfig
from phip.synth.runner import synthesize

__all__ = ["DefectRates", "SynthConfig", "synthesize"]
