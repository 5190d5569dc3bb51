"""The finding's lifecycle (`finding.states.yaml`), registered with the workflow layer when the
quality domain loads (entry point `quality` of the group `phip.domains`)."""

from __future__ import annotations

from importlib.resources import files

from phip import workflow

MACHINE = workflow.load(files("phip.quality") / "finding.states.yaml").name
