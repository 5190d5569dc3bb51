"""Resources in the lake's normal form: every member of every object is a list (a single value
becomes a one-item list; nulls are dropped). FHIRPath navigation is then the same step whatever
an element's cardinality — on DuckDB one JSONPath with `[*]` at every step — with no schema."""

from __future__ import annotations

from typing import Any


def normalise(node: Any) -> Any:
    if type(node) is not dict:
        return node
    out = {}
    for k, v in node.items():
        # the function is entered for objects only: a resource has millions of scalars
        if type(v) is list:
            kept = [normalise(x) if type(x) is dict else x for x in v if x is not None]
            if kept:
                out[k] = kept
        elif type(v) is dict:
            out[k] = [normalise(v)]
        elif v is not None:
            out[k] = [v]
    return out
