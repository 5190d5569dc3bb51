"""Turns a resource into its search-index rows (one extraction shared by single and bulk writes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phip.store import search_params as sp
from phip.store.protect import PROTECTED_SYSTEMS, is_phone, lookup_hash


@dataclass
class IndexRows:
    tokens: list[dict[str, Any]] = field(default_factory=list)
    strings: list[dict[str, Any]] = field(default_factory=list)
    dates: list[dict[str, Any]] = field(default_factory=list)
    refs: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: IndexRows) -> None:
        self.tokens.extend(other.tokens)
        self.strings.extend(other.strings)
        self.dates.extend(other.dates)
        self.refs.extend(other.refs)


def index_rows(res: dict[str, Any]) -> IndexRows:
    rtype, rid = res["resourceType"], res["id"]
    out = IndexRows()
    base = {"res_type": rtype, "res_id": rid}
    for p in sp.params_for(rtype):
        if p.name in ("_id", "_lastUpdated"):
            continue  # served from the resource table itself
        seen: set[tuple[str, ...]] = set()
        for v in sp.values(res, p):
            if p.type == "token":
                for system, code in sp.tokens(v):
                    if system in PROTECTED_SYSTEMS or (p.name == "phone" and is_phone(v)):
                        code = lookup_hash(code)
                    key = ("t", system, code)
                    if key not in seen:
                        seen.add(key)
                        out.tokens.append(
                            {**base, "param": p.name, "system": system[:200], "code": code[:200]}
                        )
            elif p.type == "reference":
                r = sp.reference(v)
                if r and ("r", *r) not in seen:
                    seen.add(("r", *r))
                    out.refs.append({**base, "param": p.name, "target_type": r[0], "target_id": r[1][:64]})
            elif p.type == "date":
                d = sp.date_range(v)
                if d and ("d", *d) not in seen:
                    seen.add(("d", *d))
                    out.dates.append({**base, "param": p.name, "low": d[0], "high": d[1]})
            elif p.type == "string":
                for text in sp.strings(v):
                    for skey in sp.string_keys(text):
                        if ("s", skey) not in seen:
                            seen.add(("s", skey))
                            out.strings.append({**base, "param": p.name, "value": skey})
            elif p.type == "division":
                for code in sp.divisions(v):
                    if ("t", "", code) not in seen:
                        seen.add(("t", "", code))
                        out.tokens.append({**base, "param": p.name, "system": "", "code": code})
    return out
