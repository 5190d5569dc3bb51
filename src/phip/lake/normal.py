"""Resources in the lake's normal form: every member of every object is a list (a single value
becomes a one-item list; nulls are dropped). FHIRPath navigation is then the same step whatever
an element's cardinality — on DuckDB one JSONPath with `[*]` at every step — with no schema."""

from __future__ import annotations

from typing import Any


def normalise(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            items = v if isinstance(v, list) else [v]
            kept = [normalise(x) for x in items if x is not None]
            if kept:
                out[k] = kept
        return out
    return node
