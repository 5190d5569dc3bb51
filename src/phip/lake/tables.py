"""The lake's tables as data: each fact table materialises one platform view (`data/lake.json`);
the dimension tables come from the operational database (`dims.py`); derived tables are SQL over
the others (`derived.py`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from phip.lake.views import views

#: columns every fact row carries besides its view's: the resource it came from, the facility
#: that submitted it and its partition
CARRIED = ("_rid", "source_facility")
PARTITION = ("county", "month")
NO_MONTH = "none"
NO_COUNTY = "none"


@dataclass(frozen=True)
class FactTable:
    name: str
    view: dict[str, Any]
    month_from: tuple[str, ...]

    @property
    def resource_type(self) -> str:
        return str(self.view["resource"])

    @property
    def definition(self) -> str:
        """A hash of what the table is made of: a change rebuilds the table."""
        text = json.dumps([self.view, self.month_from, CARRIED, PARTITION], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@cache
def fact_tables() -> dict[str, FactTable]:
    spec = json.loads((resources.files("phip.lake") / "data" / "lake.json").read_text(encoding="utf-8"))
    all_views = views()
    return {
        name: FactTable(name, all_views[t["view"]], tuple(t["month"])) for name, t in spec["tables"].items()
    }
