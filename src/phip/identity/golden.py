"""The golden record of a person: one value per attribute chosen from the person's source records
by explicit survivorship rules, each value with its provenance (which record, which rule).

Rules (one per attribute, applied in order until one record is left):

| attribute | rule |
|---|---|
| identity number | a valid 18-digit number; the one most records carry; most trusted source; most recent |
| name | most trusted source; the spelling most records carry; most recent |
| sex, birth date | agrees with the valid identity number; most trusted source; most frequent; most recent |
| phone | most recent; most trusted source |
| address | most recent; most complete (deepest division code, then longest text) |

Trust of a source is the tier of the facility that recorded it, read from its code
(`DIVISION-TYPE-NN`, type after GB/T 2260-style facility classes): hospitals (A) above community
and township health centres (B, C) above village clinics and outpatient departments (D), then
anything else. Ties after every rule go to the smallest record id, so the result is deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from phip.identity.person import Person

#: facility type class (first letter of the type code) → trust
SOURCE_TRUST = {"A": 3, "B": 2, "C": 2, "D": 1}
ATTRIBUTES = ("id_number", "name", "sex", "birth_date", "phone", "address")


def trust(source: str) -> int:
    parts = source.split("-")
    return SOURCE_TRUST.get(parts[1][:1], 0) if len(parts) >= 3 and parts[1] else 0


def _pick(
    people: Sequence[Person],
    value: Callable[[Person], str],
    keys: Sequence[tuple[str, Callable[[Person], Any]]],
) -> tuple[str, str, str] | None:
    """(value, record id, deciding rule) of the best record holding a value, best by `keys` in
    order. The rule is `only` (one record has a value), `agreed` (all that have one agree), the
    rule that settled it, or `smallest-record-id` when none did."""
    have = [p for p in people if value(p)]
    if not have:
        return None
    if len({value(p) for p in have}) == 1:
        chosen = min(have, key=lambda p: p.record_id)
        return value(chosen), chosen.record_id, "only" if len(have) == 1 else "agreed"
    rule = ""
    for name, key in keys:
        best = max(key(p) for p in have)
        kept = [p for p in have if key(p) == best]
        if len(kept) < len(have):
            rule = name
            have = kept
        if len({value(p) for p in have}) == 1:
            break
    chosen = min(have, key=lambda p: p.record_id)
    return value(chosen), chosen.record_id, rule or "smallest-record-id"


def build(people: Sequence[Person]) -> dict[str, Any]:
    """The golden record of one person's records: `{attribute: {value, record, rule}}` plus the
    list of source records and facilities."""
    if not people:
        return {"attributes": {}, "records": [], "sources": []}
    counts = {
        "id": Counter(p.id18 for p in people if p.id18),
        "name": Counter(p.name for p in people if p.name),
        "sex": Counter(p.sex for p in people if p.sex),
        "birth": Counter(p.birth for p in people if p.birth),
    }
    id_value = _pick(
        people,
        lambda p: p.id18 or p.id_raw,
        [
            ("valid-number", lambda p: bool(p.id18)),
            ("most-frequent", lambda p: counts["id"][p.id18]),
            ("most-trusted-source", lambda p: trust(p.source)),
            ("most-recent", lambda p: p.updated),
        ],
    )
    id18 = id_value[0] if id_value and len(id_value[0]) == 18 else ""
    # what the chosen valid number says (empty when none)
    id_people = [p for p in people if p.id18 == id18] if id18 else []
    id_birth = id_people[0].id_birth if id_people else ""
    id_sex = id_people[0].id_sex if id_people else ""
    picks = {
        "id_number": id_value,
        "name": _pick(
            people,
            lambda p: p.name,
            [
                ("most-trusted-source", lambda p: trust(p.source)),
                ("most-frequent", lambda p: counts["name"][p.name]),
                ("most-recent", lambda p: p.updated),
            ],
        ),
        "sex": _pick(
            people,
            lambda p: p.sex,
            [
                ("agrees-with-identity-number", lambda p: bool(id_sex) and p.sex == id_sex),
                ("most-trusted-source", lambda p: trust(p.source)),
                ("most-frequent", lambda p: counts["sex"][p.sex]),
                ("most-recent", lambda p: p.updated),
            ],
        ),
        "birth_date": _pick(
            people,
            lambda p: p.birth,
            [
                ("agrees-with-identity-number", lambda p: bool(id_birth) and p.birth == id_birth),
                ("most-trusted-source", lambda p: trust(p.source)),
                ("most-frequent", lambda p: counts["birth"][p.birth]),
                ("most-recent", lambda p: p.updated),
            ],
        ),
        "phone": _pick(
            people,
            lambda p: p.phone,
            [("most-recent", lambda p: p.updated), ("most-trusted-source", lambda p: trust(p.source))],
        ),
        "address": _pick(
            people,
            lambda p: p.address,
            [
                ("most-recent", lambda p: p.updated),
                ("most-complete", lambda p: (len(p.division), len(p.address))),
            ],
        ),
    }
    attrs: dict[str, Any] = {}
    for attr, pick in picks.items():
        if pick is not None:
            attrs[attr] = {"value": pick[0], "record": pick[1], "rule": pick[2]}
    if "address" in attrs:
        src = next(p for p in people if p.record_id == attrs["address"]["record"])
        if src.division:
            attrs["address"]["division"] = src.division
    # the stated values fall back to what the identity number carries
    for attr, derived in (("sex", id_sex), ("birth_date", id_birth)):
        if attr not in attrs and derived:
            attrs[attr] = {
                "value": derived,
                "record": attrs["id_number"]["record"],
                "rule": "from-identity-number",
            }
    return {
        "attributes": attrs,
        "records": sorted(p.record_id for p in people),
        "sources": sorted({p.source for p in people if p.source}),
    }
