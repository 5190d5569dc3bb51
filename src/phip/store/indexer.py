"""Turns a resource into its search-index rows (one extraction shared by single and bulk writes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
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


@cache
def _plan(rtype: str) -> tuple[tuple[str, str, tuple[tuple[str, ...], ...]], ...]:
    """The indexed parameters of a type (those served by the resource table, and aliases, left
    out)."""
    return tuple(
        (p.name, p.type, p.paths)
        for p in sp.params_for(rtype)
        if p.name not in ("_id", "_lastUpdated") and sp.stored_name(rtype, p.name) == p.name
    )


def index_rows(res: dict[str, Any]) -> IndexRows:
    rtype, rid = res["resourceType"], res["id"]
    out = IndexRows()
    tokens, strings, dates, refs = out.tokens, out.strings, out.dates, out.refs
    for name, ptype, paths in _plan(rtype):
        found: list[Any] = []
        for path in paths:
            sp.collect(res, path, 0, found)
        if not found:
            continue
        seen: set[tuple[str, ...]] = set()
        if ptype == "reference":
            for v in found:
                r = sp.reference(v)
                if r and r not in seen:
                    seen.add(r)
                    refs.append((rtype, rid, name, r[0], r[1][:64]))
        elif ptype == "token":
            for v in found:
                for system, code in sp.tokens(v):
                    if system in PROTECTED_SYSTEMS or (name == "phone" and is_phone(v)):
                        code = lookup_hash(code)
                    key = (system, code)
                    if key not in seen:
                        seen.add(key)
                        tokens.append((rtype, rid, name, system[:200], code[:200]))
        elif ptype == "date":
            for v in found:
                d = sp.date_range(v)
                if d and d not in seen:
                    seen.add(d)
                    dates.append((rtype, rid, name, d[0], d[1]))
        elif ptype == "string":
            for v in found:
                for text in sp.strings(v):
                    for skey in sp.string_keys(text):
                        if (skey,) not in seen:
                            seen.add((skey,))
                            strings.append((rtype, rid, name, skey))
        elif ptype == "division":
            for v in found:
                for code in sp.divisions(v):
                    if ("", code) not in seen:
                        seen.add(("", code))
                        tokens.append((rtype, rid, name, "", code))
    return out
