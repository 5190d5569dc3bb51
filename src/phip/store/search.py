"""FHIR search over the index tables, with keyset paging (no OFFSET scans), `_include`,
`_summary=count`, and the caller's scope applied inside the SQL so counts and pages stay right.

Supported: every parameter of `search_params`, plus `_id` and `_lastUpdated`; token
`system|code`, `|code`, `code`; reference `Type/id` or `id`; date prefixes eq, ne, lt, le, gt, ge,
sa, eb; string (Chinese-aware: hanzi substrings and pinyin keys; Latin prefix match);
`_count` (≤ 1000), `_sort` (`_id`, `_lastUpdated`, with `-` for descending), `_include`, `_summary=count`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, func, not_, or_, select

from phip.store import search_params as sp
from phip.store.codec import from_stored
from phip.store.errors import InvalidSearch
from phip.store.models import Resource, SearchDate, SearchReference, SearchString, SearchToken
from phip.store.protect import PROTECTED_SYSTEMS, lookup_hash
from phip.store.repository import Repository

Json = dict[str, Any]
CONTROL = {"_count", "_sort", "_include", "_summary", "_cursor", "_total", "_format", "_elements", "_pretty"}
MAX_COUNT = 1000
#: most matches a search may sort by a date parameter
MAX_DATE_SORT = 20_000
PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", "ap")


@dataclass
class SearchResult:
    resources: list[Json]
    next_cursor: str | None = None
    total: int | None = None
    included: list[Json] = field(default_factory=list)


def _split_values(value: str) -> list[str]:
    out, cur, esc = [], "", False
    for ch in value:
        if esc:
            cur += ch
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [v for v in out if v != ""]


def _date_prefix(v: str) -> tuple[str, str]:
    if v[:2] in PREFIXES and len(v) > 2 and v[2].isdigit():
        return v[:2], v[2:]
    return "eq", v


def _in(table: Any, rtype: str, name: str, cond: ColumnElement[bool]) -> ColumnElement[bool]:
    sub = select(table.res_id).where(
        table.res_type == rtype, table.param == sp.stored_name(rtype, name), cond
    )
    return Resource.res_id.in_(sub)


def _filter(rtype: str, name: str, modifier: str | None, raw: str) -> ColumnElement[bool]:
    values = _split_values(raw)
    if not values:
        raise InvalidSearch(f"empty value for search parameter {name}")
    if name == "_id":
        return Resource.res_id.in_(values)
    if name == "_lastUpdated":
        return or_(
            *[
                _date_clause(Resource.last_updated, Resource.last_updated, v, is_column_dt=True)
                for v in values
            ]
        )
    p = sp.param(rtype, name)
    if p is None:
        raise InvalidSearch(f"unknown search parameter {name!r} for {rtype}")
    if p.type in ("token", "division"):
        conds = []
        for v in values:
            if "|" in v:
                system, code = v.split("|", 1)
                if system in PROTECTED_SYSTEMS and code:
                    code = lookup_hash(code)
                c = SearchToken.system == system
                conds.append(and_(c, SearchToken.code == code) if code else c)
            elif name == "phone":
                conds.append(SearchToken.code == lookup_hash(v))
            elif name == "identifier":  # no system: a protected number is found by its hash
                conds.append(SearchToken.code.in_([v, lookup_hash(v)]))
            else:
                conds.append(SearchToken.code == v)
        clause = _in(SearchToken, rtype, name, or_(*conds))
        return not_(clause) if modifier == "not" else clause
    if p.type == "reference":
        conds = []
        for v in values:
            parts = v.rstrip("/").split("/")
            target_type = modifier or (parts[-2] if len(parts) >= 2 else None)
            target_id = parts[-1]
            if (
                target_type in (None, "Patient")
                and p.paths[0][0] in sp.PATIENT_LINKS
                and name in ("patient", "subject", "beneficiary")
                and len(p.paths) == 1
            ):
                conds.append(Resource.patient_id == target_id)  # the compartment column, one index lookup
                continue
            c = SearchReference.target_id == target_id
            if target_type:
                c = and_(c, SearchReference.target_type == target_type)
            conds.append(_in(SearchReference, rtype, name, c))
        return or_(*conds)
    if p.type == "date":
        return or_(
            *[_date_clause(SearchDate.low, SearchDate.high, v, rtype=rtype, name=name) for v in values]
        )
    if p.type == "string":
        conds = []
        for v in values:
            keys = _string_query(v)
            if not keys:
                raise InvalidSearch(f"empty value for search parameter {name}")
            exact, prefix = keys
            c = SearchString.value == exact
            if prefix and modifier != "exact":
                c = or_(c, SearchString.value.startswith(exact, autoescape=True))
            conds.append(_in(SearchString, rtype, name, c))
        return or_(*conds)
    raise InvalidSearch(f"search parameter {name} has an unsupported type")  # pragma: no cover


def _string_query(v: str) -> tuple[str, bool] | None:
    from phip.standards.names import normalize_name

    s = normalize_name(v).lower()
    if not s:
        return None
    if any("\u4e00" <= ch <= "\u9fff" for ch in s):
        return "".join(s.split()), False  # substrings are indexed: equality finds them
    return "".join(s.replace(",", " ").split()), True


def _bounds(v: str) -> tuple[str, str]:
    try:
        lo, hi = sp._to_utc(v, False), sp._to_utc(v, True)
    except (ValueError, TypeError) as exc:
        raise InvalidSearch(f"not a date: {v!r}") from exc
    return lo, hi


def _date_clause(
    low_col: Any, high_col: Any, raw: str, rtype: str = "", name: str = "", is_column_dt: bool = False
) -> ColumnElement[bool]:
    prefix, v = _date_prefix(raw)
    lo, hi = _bounds(v)
    if is_column_dt:
        lo_v: Any = datetime.fromisoformat(lo).replace(tzinfo=UTC)
        hi_v: Any = datetime.fromisoformat(hi).replace(tzinfo=UTC)
    else:
        lo_v, hi_v = lo, hi
    conds = {
        "eq": and_(low_col >= lo_v, high_col <= hi_v),
        "ne": or_(low_col < lo_v, high_col > hi_v),
        "lt": low_col < lo_v,
        "le": low_col < hi_v,
        "gt": high_col > hi_v,
        "ge": high_col > lo_v,
        "sa": low_col >= hi_v,
        "eb": high_col <= lo_v,
        "ap": and_(low_col < hi_v, high_col > lo_v),
    }
    cond = conds[prefix]
    if is_column_dt:
        return cond
    return _in(SearchDate, rtype, name, cond)


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _decode_cursor(token: str) -> list[Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidSearch("invalid paging cursor") from exc
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not (data[0] is None or isinstance(data[0], str))
        or not isinstance(data[1], str)
        or len(data[1]) > 64
    ):
        raise InvalidSearch("invalid paging cursor")
    return data


def search(
    repo: Repository, rtype: str, query: list[tuple[str, str]], default_count: int = 50
) -> SearchResult:
    """Run a FHIR search. `query` is the list of (parameter, value) pairs from the URL."""
    count = default_count
    sort = "_id"
    includes: list[str] = []
    cursor: str | None = None
    summary_count = False
    filters: list[ColumnElement[bool]] = [Resource.res_type == rtype, Resource.deleted.is_(False)]
    scope = repo.scope.clause()
    if scope is not None:
        filters.append(scope)
    for qkey, value in query:
        name, _, modifier = qkey.partition(":")
        if name == "_count":
            try:
                count = max(0, min(MAX_COUNT, int(value)))
            except ValueError as exc:
                raise InvalidSearch("_count must be a number") from exc
        elif name == "_sort":
            sort = value
        elif name == "_include":
            includes.append(value)
        elif name == "_cursor":
            cursor = value
        elif name == "_summary":
            summary_count = value == "count"
        elif name in CONTROL:
            continue
        else:
            filters.append(_filter(rtype, name, modifier or None, value))
    where = and_(*filters)
    session = repo.session
    if summary_count or count == 0:
        total = session.scalar(select(func.count()).select_from(Resource).where(where)) or 0
        return SearchResult([], None, total)
    desc = sort.startswith("-")
    sort_key = sort.lstrip("-")
    sort_param = sp.param(rtype, sort_key) if sort_key not in ("_id", "_lastUpdated") else None
    if sort_key not in ("_id", "_lastUpdated") and (sort_param is None or sort_param.type != "date"):
        raise InvalidSearch(
            f"sorting by {sort_key!r} is not supported (use _id, _lastUpdated or a date parameter)"
        )
    if sort_param is not None:
        # sorting by a date reads every match's dates: bounded, so one request cannot hold a
        # database for minutes (narrow the search, or page by _id / _lastUpdated)
        matches = session.scalar(
            select(func.count()).select_from(
                select(Resource.res_id).where(where).limit(MAX_DATE_SORT + 1).subquery()
            )
        )
        if (matches or 0) > MAX_DATE_SORT:
            raise InvalidSearch(
                f"sorting by {sort_key!r} is limited to {MAX_DATE_SORT:,} matches; add search parameters "
                "or sort by _id or _lastUpdated"
            )
        # the earliest indexed instant of the date parameter; resources without one sort first
        # ascending, last descending (coalesced to an empty string)
        key: Any = func.coalesce(
            select(func.min(SearchDate.low))
            .where(
                SearchDate.res_type == rtype,
                SearchDate.res_id == Resource.res_id,
                SearchDate.param == sp.stored_name(rtype, sort_key),
            )
            .scalar_subquery(),
            "",
        )
    elif sort_key == "_lastUpdated":
        key = Resource.last_updated
    else:
        key = None
    cols: list[Any] = [key, Resource.res_id] if key is not None else [Resource.res_id]
    q = select(Resource.content, Resource.version, Resource.last_updated, *cols).where(where)
    if cursor:
        last = _decode_cursor(cursor)
        if key is not None:
            if last[0] is None:
                raise InvalidSearch("invalid paging cursor")
            try:
                k0: Any = datetime.fromisoformat(last[0]) if sort_key == "_lastUpdated" else last[0]
            except ValueError as exc:
                raise InvalidSearch("invalid paging cursor") from exc
            q = q.where(
                (key < k0) | ((key == k0) & (Resource.res_id < last[1]))
                if desc
                else (key > k0) | ((key == k0) & (Resource.res_id > last[1]))
            )
        else:
            q = q.where(Resource.res_id < last[1] if desc else Resource.res_id > last[1])
    q = q.order_by(*[c.desc() if desc else c.asc() for c in cols]).limit(count + 1)
    rows = list(session.execute(q))
    more = len(rows) > count
    rows = rows[:count]
    resources = [from_stored(r[0], r[1], r[2]) for r in rows]
    next_cursor = None
    if more and rows:
        last_row = rows[-1]
        key0 = None
        if key is not None:
            key0 = last_row[3].isoformat() if sort_key == "_lastUpdated" else last_row[3]
        next_cursor = _encode_cursor([key0, last_row[-1]])
    included = _includes(repo, rtype, [r["id"] for r in resources], includes)
    return SearchResult(resources, next_cursor, None, included)


def _includes(repo: Repository, rtype: str, ids: list[str], includes: list[str]) -> list[Json]:
    if not ids or not includes:
        return []
    targets: set[tuple[str, str]] = set()
    for inc in includes:
        parts = inc.split(":")
        if len(parts) < 2 or parts[0] != rtype:
            raise InvalidSearch(f"_include must be {rtype}:parameter[:Target], got {inc!r}")
        if sp.param(rtype, parts[1]) is None:
            raise InvalidSearch(f"unknown search parameter {parts[1]!r} in _include")
        q = select(SearchReference.target_type, SearchReference.target_id).where(
            SearchReference.res_type == rtype,
            SearchReference.param == sp.stored_name(rtype, parts[1]),
            SearchReference.res_id.in_(ids),
        )
        if len(parts) > 2:
            q = q.where(SearchReference.target_type == parts[2])
        targets.update((t, i) for t, i in repo.session.execute(q))
    out = []
    for t, i in sorted(targets):
        if repo.exists(t, i):
            out.append(repo.read(t, i))
    return out
