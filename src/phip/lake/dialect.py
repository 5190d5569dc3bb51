"""The SQL primitives the view compiler is built from, one class per engine. A FHIRPath collection is
a list of JSON values (DuckDB `JSON[]`, Spark `ARRAY<VARIANT>`); a row set is a list of structs.
Everything else — navigation, filters, `forEach`, `unionAll` — is composed from these, so the
compiler itself is written once."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod

#: SQL type of a view column, by its FHIR type (anything else is a string)
_INTEGER = {"integer", "positiveInt", "unsignedInt", "integer64"}


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class Dialect(ABC):
    name = ""
    first_index = 0  # index a lambda's position argument starts at

    def __init__(self) -> None:
        self.names = 0

    def fresh(self) -> str:
        """A new lambda parameter name."""
        self.names += 1
        return f"m{self.names}"

    @abstractmethod
    def let(self, value: str, name: str, body: str) -> str:
        """`body` with `name` bound to `value` (evaluated once)."""

    # ---- lambdas and lists ----
    @abstractmethod
    def lam(self, params: list[str], body: str) -> str: ...

    @abstractmethod
    def transform(self, items: str, params: list[str], body: str) -> str: ...

    @abstractmethod
    def filter(self, items: str, param: str, cond: str) -> str: ...

    @abstractmethod
    def flatten(self, lists: str) -> str: ...

    @abstractmethod
    def concat(self, lists: list[str]) -> str: ...

    @abstractmethod
    def length(self, items: str) -> str: ...

    @abstractmethod
    def slice(self, items: str, start: str, count: str) -> str:
        """`count` items from position `start` (0-based, SQL expressions)."""

    @abstractmethod
    def first_item(self, items: str) -> str:
        """The first item of a list, NULL when it is empty."""

    @abstractmethod
    def empty_json_list(self) -> str: ...

    @abstractmethod
    def null_json(self) -> str: ...

    @abstractmethod
    def json_list(self, items: list[str]) -> str: ...

    # ---- JSON values ----
    @abstractmethod
    def parse(self, column: str) -> str:
        """The JSON value of a resource column (text)."""

    @abstractmethod
    def json_literal(self, value: object) -> str: ...

    @abstractmethod
    def child(self, x: str, name: str) -> str:
        """The items of member `name` of normalised JSON value `x` (`normal.py`), as a list."""

    @abstractmethod
    def path(self, x: str, names: list[str]) -> str:
        """The items reached from x through the members `names` in turn, as one list."""

    @abstractmethod
    def member(self, x: str, name: str) -> str:
        """The first item of member `name` of x (NULL when absent)."""

    @abstractmethod
    def json_kind(self, x: str) -> str:
        """An SQL expression naming the kind of x: 'number', 'string', 'boolean', 'object', 'array'."""

    @abstractmethod
    def as_sql(self, x: str, fhir_type: str) -> str:
        """A JSON scalar as an SQL value of the column type."""

    @abstractmethod
    def to_json(self, sql_value: str, kind: str) -> str:
        """An SQL value (kind: boolean / number / string) as a JSON value."""

    # ---- rows ----
    @abstractmethod
    def struct(self, fields: list[tuple[str, str]]) -> str: ...

    @abstractmethod
    def field(self, s: str, name: str) -> str: ...

    @abstractmethod
    def explode_rows(self, rows: str, source: str, where: str, carried: tuple[str, ...] = ()) -> str:
        """SELECT the structs of `rows` (a list per source row) as result rows, followed by the
        source columns `carried`."""

    def sql_type(self, fhir_type: str, collection: bool) -> str:
        base = self._type(fhir_type)
        return (
            f"{base}[]" if collection and self.name == "duckdb" else f"array<{base}>" if collection else base
        )

    @abstractmethod
    def _type(self, fhir_type: str) -> str: ...

    @abstractmethod
    def string_join(self, items: str, param: str, as_string: str, sep: str) -> str: ...

    @abstractmethod
    def split_part(self, text: str, sep: str, n: int) -> str: ...

    def decimal_places(self, x: str, text: str) -> str:
        """Digits after the decimal point of JSON number x as written (`text` is its text)."""
        return f"length({self.split_part(text, '.', 2)})"

    def complete_time(self, text: str, pad: tuple[str, str, str]) -> str:
        """hh[:mm[:ss[.fff]]] completed with `pad` (minutes, seconds, milliseconds); a zone kept."""
        body = f"regexp_extract({text}, '^([0-9:.]*)', 1)"
        zone = f"substr({text}, length({body}) + 1)"
        hh = f"substr({body}, 1, 2)"
        mm = f"coalesce(nullif(substr({body}, 4, 2), ''), '{pad[0]}')"
        ss = f"coalesce(nullif(substr({body}, 7, 2), ''), '{pad[1]}')"
        frac = f"rpad(coalesce(nullif(substr({body}, 10), ''), '{pad[2]}'), 3, '{pad[2][-1]}')"
        whole = f"{'23' if pad[0] == '59' else '00'}:{pad[0]}:{pad[1]}.{pad[2]}"
        return (
            f"(CASE WHEN {text} IS NULL THEN NULL WHEN {text} = '' THEN '{whole}' "
            f"ELSE {hh} || ':' || {mm} || ':' || {ss} || '.' || {frac} || {zone} END)"
        )

    def complete_date(self, text: str, low: bool) -> str:
        """YYYY[-MM[-DD]] completed to the first (low) or last day it can mean."""
        year, month = f"substr({text}, 1, 4)", f"substr({text}, 6, 2)"
        if low:
            return (
                f"(CASE WHEN length({text}) = 4 THEN {year} || '-01-01' "
                f"WHEN length({text}) = 7 THEN {text} || '-01' ELSE substr({text}, 1, 10) END)"
            )
        last = self.last_day(f"{year} || '-' || {month} || '-01'")
        return (
            f"(CASE WHEN length({text}) = 4 THEN {year} || '-12-31' "
            f"WHEN length({text}) = 7 THEN {last} ELSE substr({text}, 1, 10) END)"
        )

    @abstractmethod
    def last_day(self, iso_date: str) -> str:
        """The last day of the month of an ISO date text, as ISO text."""

    @abstractmethod
    def fail(self, message: str) -> str:
        """An expression that stops the query with `message`."""


class DuckDB(Dialect):
    name = "duckdb"
    first_index = 1

    def lam(self, params: list[str], body: str) -> str:
        return f"lambda {', '.join(params)}: {body}"

    def transform(self, items: str, params: list[str], body: str) -> str:
        return f"list_transform({items}, {self.lam(params, body)})"

    def filter(self, items: str, param: str, cond: str) -> str:
        return f"list_filter({items}, {self.lam([param], f'coalesce({cond}, false)')})"

    def flatten(self, lists: str) -> str:
        return f"flatten({lists})"

    def concat(self, lists: list[str]) -> str:
        out = lists[0]
        for other in lists[1:]:
            out = f"list_concat({out}, {other})"
        return out

    def length(self, items: str) -> str:
        return f"len({items})"

    def slice(self, items: str, start: str, count: str) -> str:
        return f"list_slice({items}, ({start}) + 1, ({start}) + ({count}))"

    def first_item(self, items: str) -> str:
        return f"({items})[1]"

    def empty_json_list(self) -> str:
        return "[]::JSON[]"

    def null_json(self) -> str:
        return "CAST(NULL AS JSON)"

    def json_list(self, items: list[str]) -> str:
        return f"[{', '.join(items)}]::JSON[]"

    def parse(self, column: str) -> str:
        return f"CAST({column} AS JSON)"

    def json_literal(self, value: object) -> str:
        return f"{quote(json.dumps(value, ensure_ascii=False))}::JSON"

    def child(self, x: str, name: str) -> str:
        return self.path(x, [name])

    def path(self, x: str, names: list[str]) -> str:
        """Members `names`, one after the other, of normalised JSON value x: one JSONPath."""
        steps = "".join('."' + n.replace('"', '\\"') + '"[*]' for n in names)
        return f"coalesce(CAST(json_extract({x}, {quote('$' + steps)}) AS JSON[]), []::JSON[])"

    def member(self, x: str, name: str) -> str:
        return f"json_extract({x}, {quote('$.' + chr(34) + name + chr(34) + '[0]')})"

    def let(self, value: str, name: str, body: str) -> str:
        return f"(list_transform([{value}], lambda {name}: {body}))[1]"

    def json_kind(self, x: str) -> str:
        return (
            f"(CASE json_type({x}) WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' "
            f"WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' WHEN 'NULL' THEN 'null' "
            "ELSE 'number' END)"
        )

    def _type(self, fhir_type: str) -> str:
        if fhir_type in _INTEGER:
            return "BIGINT"
        if fhir_type == "decimal":
            return "DOUBLE"
        if fhir_type == "boolean":
            return "BOOLEAN"
        return "VARCHAR"

    def as_sql(self, x: str, fhir_type: str) -> str:
        t = self._type(fhir_type)
        if t == "VARCHAR":
            # a string unquoted, any other value as its JSON text: one parse of x (JSON null
            # cannot occur: the normal form drops nulls)
            return f"json_extract_string({x}, '$')"
        return f"TRY_CAST({x} AS {t})"

    def to_json(self, sql_value: str, kind: str) -> str:
        return f"to_json({sql_value})"

    def struct(self, fields: list[tuple[str, str]]) -> str:
        return "struct_pack(" + ", ".join(f'"{n}" := {v}' for n, v in fields) + ")"

    def field(self, s: str, name: str) -> str:
        return f'{s}."{name}"'

    def explode_rows(self, rows: str, source: str, where: str, carried: tuple[str, ...] = ()) -> str:
        extra = "".join(f", {col}" for col in carried)
        return f"SELECT u.*{extra} FROM (SELECT unnest({rows}) AS u{extra} FROM {source} WHERE {where})"

    def string_join(self, items: str, param: str, as_string: str, sep: str) -> str:
        return f"array_to_string({self.transform(items, [param], as_string)}, {sep})"

    def fail(self, message: str) -> str:
        return f"error({quote(message)})"

    def split_part(self, text: str, sep: str, n: int) -> str:
        return f"split_part({text}, {quote(sep)}, {n})"

    def last_day(self, iso_date: str) -> str:
        return f"strftime(last_day(CAST({iso_date} AS DATE)), '%Y-%m-%d')"


class Spark(Dialect):
    name = "spark"
    first_index = 0

    def lam(self, params: list[str], body: str) -> str:
        head = params[0] if len(params) == 1 else f"({', '.join(params)})"
        return f"{head} -> {body}"

    def transform(self, items: str, params: list[str], body: str) -> str:
        return f"transform({items}, {self.lam(params, body)})"

    def filter(self, items: str, param: str, cond: str) -> str:
        return f"filter({items}, {self.lam([param], f'coalesce({cond}, false)')})"

    def flatten(self, lists: str) -> str:
        return f"flatten({lists})"

    def concat(self, lists: list[str]) -> str:
        return f"concat({', '.join(lists)})" if len(lists) > 1 else lists[0]

    def length(self, items: str) -> str:
        return f"size({items})"

    def slice(self, items: str, start: str, count: str) -> str:
        return (
            f"(CASE WHEN ({count}) <= 0 OR ({start}) >= size({items}) THEN cast(array() AS array<variant>) "
            f"ELSE slice({items}, ({start}) + 1, {count}) END)"
        )

    def first_item(self, items: str) -> str:
        return f"try_element_at({items}, 1)"

    def empty_json_list(self) -> str:
        return "cast(array() AS array<variant>)"

    def null_json(self) -> str:
        return "CAST(NULL AS VARIANT)"

    def json_list(self, items: list[str]) -> str:
        return f"array({', '.join(items)})"

    def parse(self, column: str) -> str:
        return f"parse_json({column})"

    def json_literal(self, value: object) -> str:
        return f"parse_json({quote(json.dumps(value, ensure_ascii=False))})"

    def child(self, x: str, name: str) -> str:
        items = f"variant_get({x}, {quote('$.' + name)}, 'array<variant>')"
        return f"coalesce({items}, {self.empty_json_list()})"

    def path(self, x: str, names: list[str]) -> str:
        out = self.child(x, names[0])
        for n in names[1:]:
            v = self.fresh()
            out = self.flatten(self.transform(out, [v], self.child(v, n)))
        return out

    def member(self, x: str, name: str) -> str:
        return f"variant_get({x}, {quote('$.' + name + '[0]')}, 'variant')"

    def let(self, value: str, name: str, body: str) -> str:
        return f"try_element_at(transform(array({value}), {name} -> {body}), 1)"

    def json_kind(self, x: str) -> str:
        s = f"schema_of_variant({x})"
        return (
            f"(CASE WHEN {s} = 'STRING' THEN 'string' WHEN {s} = 'BOOLEAN' THEN 'boolean' "
            f"WHEN {s} LIKE 'OBJECT%' THEN 'object' WHEN {s} LIKE 'ARRAY%' THEN 'array' "
            f"WHEN {s} = 'VOID' THEN 'null' ELSE 'number' END)"
        )

    def _type(self, fhir_type: str) -> str:
        if fhir_type in _INTEGER:
            return "bigint"
        if fhir_type == "decimal":
            return "double"
        if fhir_type == "boolean":
            return "boolean"
        return "string"

    def as_sql(self, x: str, fhir_type: str) -> str:
        t = self._type(fhir_type)
        if t == "string":
            return (
                f"(CASE WHEN schema_of_variant({x}) = 'STRING' THEN variant_get({x}, '$', 'string') "
                f"ELSE to_json({x}) END)"
            )
        return f"try_variant_get({x}, '$', '{t}')"

    def to_json(self, sql_value: str, kind: str) -> str:
        return f"CAST({sql_value} AS VARIANT)"

    def struct(self, fields: list[tuple[str, str]]) -> str:
        return "named_struct(" + ", ".join(f"{quote(n)}, {v}" for n, v in fields) + ")"

    def field(self, s: str, name: str) -> str:
        return f"{s}.`{name}`"

    def explode_rows(self, rows: str, source: str, where: str, carried: tuple[str, ...] = ()) -> str:
        extra = "".join(f", {col}" for col in carried)
        return f"SELECT inline({rows}){extra} FROM {source} WHERE {where}"

    def string_join(self, items: str, param: str, as_string: str, sep: str) -> str:
        return f"array_join({self.transform(items, [param], as_string)}, {sep})"

    def fail(self, message: str) -> str:
        return f"raise_error({quote(message)})"

    def split_part(self, text: str, sep: str, n: int) -> str:
        return f"coalesce(split_part({text}, {quote(sep)}, {n}), '')"

    def decimal_places(self, x: str, text: str) -> str:
        # a variant keeps a JSON number as DECIMAL(p,s): its scale is the digits written
        scale = f"regexp_extract(schema_of_variant({x}), 'DECIMAL\\\\([0-9]+,([0-9]+)\\\\)', 1)"
        return f"coalesce(try_cast(nullif({scale}, '') AS int), 0)"

    def last_day(self, iso_date: str) -> str:
        return f"date_format(last_day(to_date({iso_date})), 'yyyy-MM-dd')"


def dialect_for(name: str) -> Dialect:
    if name == "duckdb":
        return DuckDB()
    if name == "spark":
        return Spark()
    raise ValueError(f"unknown engine {name!r}: duckdb or spark")
