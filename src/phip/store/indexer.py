"""Turns a resource into its search-index rows (one extraction shared by single and bulk writes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phip.store import search_params as sp
from phip.store.protect import PROTECTED_SYSTEMS, is_phone, lookup_hash

#: column order of the tuples in `IndexRows`
TOKEN_COLS = ("res_type", "res_id", "param", "system", "code")
STRING_COLS = ("res_type", "res_id", "param", "value")
DATE_COLS = ("res_type", "res_id", "param", "low", "high")
REF_COLS = ("res_type", "res_id", "param", "target_type", "target_id")


@dataclass
class IndexRows:
    """Index rows as tuples (cheap to build, to pickle between processes, and to insert)."""

    tokens: list[tuple[str, ...]] = field(default_factory=list)
    strings: list[tuple[str, ...]] = field(default_factory=list)
    dates: list[tuple[str, ...]] = field(default_factory=list)
    refs: list[tuple[str, ...]] = field(default_factory=list)

    def extend(self, other: IndexRows) -> None:
        self.tokens.extend(other.tokens)
        self.strings.extend(other.strings)
        self.dates.extend(other.dates)
        self.refs.extend(other.refs)


def index_rows(res: dict[str, Any]) -> IndexRows:
    rtype, rid = res["resourceType"], res["id"]
    out = IndexRows()
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
                        out.tokens.append((rtype, rid, p.name, system[:200], code[:200]))
            elif p.type == "reference":
                r = sp.reference(v)
                if r and ("r", *r) not in seen:
                    seen.add(("r", *r))
                    out.refs.append((rtype, rid, p.name, r[0], r[1][:64]))
            elif p.type == "date":
                d = sp.date_range(v)
                if d and ("d", *d) not in seen:
                    seen.add(("d", *d))
                    out.dates.append((rtype, rid, p.name, d[0], d[1]))
            elif p.type == "string":
                for text in sp.strings(v):
                    for skey in sp.string_keys(text):
                        if ("s", skey) not in seen:
                            seen.add(("s", skey))
                            out.strings.append((rtype, rid, p.name, skey))
            elif p.type == "division":
                for code in sp.divisions(v):
                    if ("t", "", code) not in seen:
                        seen.add(("t", "", code))
                        out.tokens.append((rtype, rid, p.name, "", code))
    return out
