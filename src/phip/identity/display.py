"""What a steward sees of a record or a person: values masked unless the role may see them
plainly, and the comparison levels of a pair (which say how two values differ without showing
them)."""

from __future__ import annotations

from typing import Any

from phip.identity.compare import compare
from phip.identity.person import Person
from phip.security.masking import mask_address, mask_id, mask_name, mask_phone

_SEX = {"1": "male", "2": "female"}


def record_view(
    p: Person, person_id: str | None, status: str, prob: float | None, masked: bool
) -> dict[str, Any]:
    ident = p.id18 or p.id_raw
    return {
        "record": p.record_id,
        "person": person_id,
        "link_status": status,
        "link_probability": round(prob, 6) if prob is not None else None,
        "source": p.source or None,
        "name": mask_name(p.name) if masked else p.name,
        "sex": _SEX.get(p.sex_any),
        "birth_date": p.birth_any or None,
        "id_number": (mask_id(ident) if masked else ident) or None,
        "phone": (mask_phone(p.phone) if masked else p.phone) or None,
        "address": (mask_address(p.address, p.division) if masked else p.address) or None,
        "division": (p.division[:9] if masked else p.division) or None,  # masked: down to the township
    }


def pair_levels(a: Person, b: Person) -> dict[str, str]:
    return compare(a, b)


def golden_view(golden: dict[str, Any], visible: set[str], masked: bool) -> dict[str, Any]:
    """A golden record limited to attributes that come from records the caller may see."""
    maskers = {"name": mask_name, "id_number": mask_id, "phone": mask_phone}
    out: dict[str, Any] = {}
    for attr, v in golden.get("attributes", {}).items():
        if v["record"] not in visible:
            continue
        value = v["value"]
        if masked and attr in maskers:
            value = maskers[attr](value)
        elif masked and attr == "address":
            value = mask_address(value, v.get("division", ""))
        out[attr] = {**v, "value": value}
    return out
