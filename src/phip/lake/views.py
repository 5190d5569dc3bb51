"""The platform's views: SQL-on-FHIR ViewDefinitions shipped as data (`data/views/*.json`)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def views() -> dict[str, dict[str, Any]]:
    """name → ViewDefinition."""
    folder = resources.files("phip.lake") / "data" / "views"
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            view = json.loads(entry.read_text(encoding="utf-8"))
            out[view["name"]] = view
    return dict(sorted(out.items()))
