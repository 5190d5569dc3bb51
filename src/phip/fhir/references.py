"""References inside FHIR resources: every reference string of a serialised resource, and the
`Type/id` a relative reference points to."""

from __future__ import annotations

import re

import orjson

#: a `"reference": "…"` member anywhere in compact JSON. Inside a JSON string every quote is
#: escaped, so the pattern can only match a real member.
_REFERENCE = re.compile(rb'"reference":"((?:[^"\\]|\\.)*)"')


def references(content: bytes) -> list[str]:
    """Every reference string in a serialised resource (contained resources included)."""
    out = []
    for m in _REFERENCE.finditer(content):
        v = m.group(1)
        out.append(orjson.loads(b'"' + v + b'"') if b"\\" in v else v.decode())
    return out


def local_ref(ref: str) -> str | None:
    """'Type/id' for a relative reference; None for contained, absolute and logical ones."""
    if ref.startswith("#") or "://" in ref:
        return None
    if ref.startswith("urn:"):
        return ref
    parts = ref.split("/_history/")[0].split("/")
    return f"{parts[0]}/{parts[1]}" if len(parts) == 2 and parts[0] and parts[1] else ref
