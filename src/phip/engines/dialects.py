"""The SQL dialects the engines speak, and every difference between them: type names, lists and
lambdas, structs, JSON values (DuckDB `JSON`, Spark `VARIANT`), the functions named differently,
and the translation of queries written in DuckDB's dialect (the platform's source dialect) by
sqlglot. Code that writes SQL for several engines asks a `Dialect` object; nothing outside this
package compares an engine's name.

A dialect object counts the lambda parameters it names (`fresh`), so a compiler takes its own
(`dialect(name)` makes a new one)."""

from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from typing import ClassVar

#: the portable column kinds and each dialect's type name for them
KINDS = ("bigint", "double", "boolean", "string")


def quote(value: str) -> str:
    """An SQL string literal (the same in every dialect)."""
    return "'" + value.replace("'", "''") + "'"


class Dialect(ABC):
    #: the registry key, also the name Splink and the settings (`PHIP_ENGINE`) use
    name: ClassVar[str] = ""
    #: sqlglot's name of the dialect
    sqlglot: ClassVar[str] = ""
    #: the index a list's first item has (and a lambda's position argument starts at)
    first_index: ClassVar[int] = 0
    #: the keyword after `AS` that keeps a common table expression read twice ('' where the
    #: engine reuses it by itself)
    materialized: ClassVar[str] = ""

    def __init__(self) -> None:
        self._names = itertools.count(1)

    def fresh(self) -> str:
        """A new lambda parameter name."""
        return f"m{next(self._names)}"

    def transpile(self, sql: str) -> str:
        """`sql`, written in DuckDB's dialect, in this one."""
        import sqlglot

        return sqlglot.transpile(sql, read=DuckDB.sqlglot, write=self.sqlglot)[0]

    def output_columns(self, sql: str) -> tuple[str, ...]:
        """The names of the columns a query in this dialect gives (read from its text)."""
        import sqlglot

        tree = sqlglot.parse_one(sql, read=self.sqlglot)
        if not isinstance(tree, sqlglot.exp.Query):
            raise ValueError("not a query")
        return tuple(tree.named_selects)

    # ---- types ----
    @abstractmethod
    def type_name(self, kind: str) -> str:
        """The SQL type of a portable column kind (`KINDS`)."""

    @abstractmethod
    def array_type(self, element: str) -> str: ...

    def from_duckdb_type(self, duck: str) -> str:
        """The type of this dialect for a DuckDB type name (the lake records its columns' types as
        DuckDB names them)."""
        duck = duck.upper()
        if duck in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT"):
            return self.type_name("bigint")
        if duck in ("DOUBLE", "FLOAT", "REAL") or duck.startswith("DECIMAL"):
            return self.type_name("double")
        if duck == "BOOLEAN":
            return self.type_name("boolean")
        return self.type_name("string")

    # ---- lambdas and lists ----
    @abstractmethod
    def lam(self, params: list[str], body: str) -> str: ...

    @abstractmethod
    def let(self, value: str, name: str, body: str) -> str:
        """`body` with `name` bound to `value` (evaluated once)."""

    @abstractmethod
    def transform(self, items: str, params: list[str], body: str) -> str: ...

    @abstractmethod
    def filter(self, items: str, param: str, cond: str) -> str: ...

    def flatten(self, lists: str) -> str:
        return f"flatten({lists})"

    @abstractmethod
    def concat(self, lists: list[str]) -> str: ...

    @abstractmethod
    def length(self, items: str) -> str: ...

    @abstractmethod
    def array(self, items: list[str]) -> str:
        """A list literal."""

    @abstractmethod
    def first_item(self, items: str) -> str:
        """The first item of a list, NULL when it is empty."""

    @abstractmethod
    def intersect(self, a: str, b: str) -> str:
        """The items two lists share."""

    @abstractmethod
    def contains_all(self, items: str, others: str) -> str:
        """Whether list `items` holds every item of list `others`."""

    @abstractmethod
    def split(self, text: str, sep: str) -> str:
        """Text cut at every `sep` (a literal character), as a list."""

    @abstractmethod
    def string_join(self, items: str, param: str, as_string: str, sep: str) -> str:
        """The items, each turned into text by `as_string` (over `param`), joined by `sep`."""

    # ---- rows ----
    @abstractmethod
    def struct(self, fields: list[tuple[str, str]]) -> str: ...

    @abstractmethod
    def field(self, s: str, name: str) -> str: ...

    @abstractmethod
    def explode_rows(self, rows: str, source: str, where: str, carried: tuple[str, ...] = ()) -> str:
        """SELECT the structs of `rows` (a list per source row) as result rows, followed by the
        source columns `carried`."""

    # ---- JSON values ----
    @abstractmethod
    def parse(self, column: str) -> str:
        """The JSON value of a text column."""

    @abstractmethod
    def json_literal(self, value: object) -> str: ...

    @abstractmethod
    def null_json(self) -> str: ...

    @abstractmethod
    def empty_json_list(self) -> str: ...

    @abstractmethod
    def json_list(self, items: list[str]) -> str: ...

    @abstractmethod
    def slice(self, items: str, start: str, count: str) -> str:
        """`count` items of a list of JSON values from position `start` (0-based, SQL expressions)."""

    @abstractmethod
    def json_items(self, x: str, names: list[str]) -> str:
        """The items reached from JSON value x through the members `names` in turn, each member
        holding a list, as one list of JSON values (empty when a member is absent)."""

    @abstractmethod
    def json_member(self, x: str, name: str) -> str:
        """The first item of member `name` (a list) of JSON value x, NULL when absent."""

    @abstractmethod
    def json_kind(self, x: str) -> str:
        """An SQL expression naming the kind of x: 'number', 'string', 'boolean', 'object',
        'array' or 'null'."""

    @abstractmethod
    def json_value(self, x: str, kind: str) -> str:
        """A JSON scalar as an SQL value of a portable kind (`KINDS`; NULL when it is not one; a
        string unquoted, any other value as its JSON text)."""

    @abstractmethod
    def to_json(self, sql_value: str) -> str:
        """An SQL value as a JSON value."""

    def json_decimal_places(self, x: str, text: str) -> str:
        """Digits after the decimal point of JSON number x as written (`text` is its text)."""
        return f"length({self.split_part(text, '.', 2)})"

    # ---- functions ----
    @abstractmethod
    def split_part(self, text: str, sep: str, n: int) -> str:
        """The `n`th part (from 1) of text cut at `sep`, '' when there is none."""

    @abstractmethod
    def last_day(self, iso_date: str) -> str:
        """The last day of the month of an ISO date text, as ISO text."""

    @abstractmethod
    def days_between(self, start: str, end: str) -> str:
        """Days from date `start` to date `end`."""

    @abstractmethod
    def jaro_winkler(self, a: str, b: str) -> str: ...

    def damerau_levenshtein(self, a: str, b: str) -> str:
        return f"damerau_levenshtein({a}, {b})"

    @abstractmethod
    def one_substitution(self, a: str, b: str) -> str:
        """Whether two texts of equal length differ in exactly one character."""

    @abstractmethod
    def fail(self, message: str) -> str:
        """An expression that stops the query with `message`."""


class DuckDB(Dialect):
    name = "duckdb"
    sqlglot = "duckdb"
    first_index = 1
    materialized = " MATERIALIZED"

    def transpile(self, sql: str) -> str:
        return sql

    def type_name(self, kind: str) -> str:
        return {"bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN"}.get(kind, "VARCHAR")

    def array_type(self, element: str) -> str:
        return f"{element}[]"

    def lam(self, params: list[str], body: str) -> str:
        return f"lambda {', '.join(params)}: {body}"

    def let(self, value: str, name: str, body: str) -> str:
        return f"(list_transform([{value}], lambda {name}: {body}))[1]"

    def transform(self, items: str, params: list[str], body: str) -> str:
        return f"list_transform({items}, {self.lam(params, body)})"

    def filter(self, items: str, param: str, cond: str) -> str:
        return f"list_filter({items}, {self.lam([param], f'coalesce({cond}, false)')})"

    def concat(self, lists: list[str]) -> str:
        out = lists[0]
        for other in lists[1:]:
            out = f"list_concat({out}, {other})"
        return out

    def length(self, items: str) -> str:
        return f"len({items})"

    def array(self, items: list[str]) -> str:
        return f"[{', '.join(items)}]"

    def first_item(self, items: str) -> str:
        return f"({items})[1]"

    def intersect(self, a: str, b: str) -> str:
        return f"list_intersect({a}, {b})"

    def contains_all(self, items: str, others: str) -> str:
        return f"list_has_all({items}, {others})"

    def split(self, text: str, sep: str) -> str:
        return f"string_split({text}, {quote(sep)})"

    def string_join(self, items: str, param: str, as_string: str, sep: str) -> str:
        return f"array_to_string({self.transform(items, [param], as_string)}, {sep})"

    def struct(self, fields: list[tuple[str, str]]) -> str:
        return "struct_pack(" + ", ".join(f'"{n}" := {v}' for n, v in fields) + ")"

    def field(self, s: str, name: str) -> str:
        return f'{s}."{name}"'

    def explode_rows(self, rows: str, source: str, where: str, carried: tuple[str, ...] = ()) -> str:
        extra = "".join(f", {col}" for col in carried)
        return f"SELECT u.*{extra} FROM (SELECT unnest({rows}) AS u{extra} FROM {source} WHERE {where})"

    def parse(self, column: str) -> str:
        return f"CAST({column} AS JSON)"

    def json_literal(self, value: object) -> str:
        return f"{quote(json.dumps(value, ensure_ascii=False))}::JSON"

    def null_json(self) -> str:
        return "CAST(NULL AS JSON)"

    def empty_json_list(self) -> str:
        return "[]::JSON[]"

    def json_list(self, items: list[str]) -> str:
        return f"[{', '.join(items)}]::JSON[]"

    def slice(self, items: str, start: str, count: str) -> str:
        return f"list_slice({items}, ({start}) + 1, ({start}) + ({count}))"

    def json_items(self, x: str, names: list[str]) -> str:
        # one JSONPath through every member
        steps = "".join('."' + n.replace('"', '\\"') + '"[*]' for n in names)
        return f"coalesce(CAST(json_extract({x}, {quote('$' + steps)}) AS JSON[]), []::JSON[])"

    def json_member(self, x: str, name: str) -> str:
        return f"json_extract({x}, {quote('$.' + chr(34) + name + chr(34) + '[0]')})"

    def json_kind(self, x: str) -> str:
        return (
            f"(CASE json_type({x}) WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' "
            f"WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' WHEN 'NULL' THEN 'null' "
            "ELSE 'number' END)"
        )

    def json_value(self, x: str, kind: str) -> str:
        t = self.type_name(kind)
        if t == "VARCHAR":
            return f"json_extract_string({x}, '$')"  # one parse of x
        return f"TRY_CAST({x} AS {t})"

    def to_json(self, sql_value: str) -> str:
        return f"to_json({sql_value})"

    def split_part(self, text: str, sep: str, n: int) -> str:
        return f"split_part({text}, {quote(sep)}, {n})"

    def last_day(self, iso_date: str) -> str:
        return f"strftime(last_day(CAST({iso_date} AS DATE)), '%Y-%m-%d')"

    def days_between(self, start: str, end: str) -> str:
        return f"date_diff('day', {start}, {end})"

    def jaro_winkler(self, a: str, b: str) -> str:
        return f"jaro_winkler_similarity({a}, {b})"

    def one_substitution(self, a: str, b: str) -> str:
        return f"hamming({a}, {b}) = 1"

    def fail(self, message: str) -> str:
        return f"error({quote(message)})"


class Spark(Dialect):
    name = "spark"
    sqlglot = "spark"
    first_index = 0
    materialized = ""  # Spark reuses the exchange of a subquery read twice

    def type_name(self, kind: str) -> str:
        return kind if kind in KINDS else "string"

    def array_type(self, element: str) -> str:
        return f"array<{element}>"

    def lam(self, params: list[str], body: str) -> str:
        head = params[0] if len(params) == 1 else f"({', '.join(params)})"
        return f"{head} -> {body}"

    def let(self, value: str, name: str, body: str) -> str:
        return f"try_element_at(transform(array({value}), {name} -> {body}), 1)"

    def transform(self, items: str, params: list[str], body: str) -> str:
        return f"transform({items}, {self.lam(params, body)})"

    def filter(self, items: str, param: str, cond: str) -> str:
        return f"filter({items}, {self.lam([param], f'coalesce({cond}, false)')})"

    def concat(self, lists: list[str]) -> str:
        return f"concat({', '.join(lists)})" if len(lists) > 1 else lists[0]

    def length(self, items: str) -> str:
        return f"size({items})"

    def array(self, items: list[str]) -> str:
        return f"array({', '.join(items)})"

    def first_item(self, items: str) -> str:
        return f"try_element_at({items}, 1)"

    def intersect(self, a: str, b: str) -> str:
        return f"array_intersect({a}, {b})"

    def contains_all(self, items: str, others: str) -> str:
        return f"size(array_except({others}, {items})) = 0"

    def split(self, text: str, sep: str) -> str:
        return f"split({text}, {quote('[' + sep + ']')})"  # Spark splits at a pattern

    def string_join(self, items: str, param: str, as_string: str, sep: str) -> str:
        return f"array_join({self.transform(items, [param], as_string)}, {sep})"

    def struct(self, fields: list[tuple[str, str]]) -> str:
        return "named_struct(" + ", ".join(f"{quote(n)}, {v}" for n, v in fields) + ")"

    def field(self, s: str, name: str) -> str:
        return f"{s}.`{name}`"

    def explode_rows(self, rows: str, source: str, where: str, carried: tuple[str, ...] = ()) -> str:
        extra = "".join(f", {col}" for col in carried)
        return f"SELECT inline({rows}){extra} FROM {source} WHERE {where}"

    def parse(self, column: str) -> str:
        return f"parse_json({column})"

    def json_literal(self, value: object) -> str:
        return f"parse_json({quote(json.dumps(value, ensure_ascii=False))})"

    def null_json(self) -> str:
        return "CAST(NULL AS VARIANT)"

    def empty_json_list(self) -> str:
        return "cast(array() AS array<variant>)"

    def json_list(self, items: list[str]) -> str:
        return f"array({', '.join(items)})"

    def slice(self, items: str, start: str, count: str) -> str:
        return (
            f"(CASE WHEN ({count}) <= 0 OR ({start}) >= size({items}) THEN {self.empty_json_list()} "
            f"ELSE slice({items}, ({start}) + 1, {count}) END)"
        )

    def _member_items(self, x: str, name: str) -> str:
        items = f"variant_get({x}, {quote('$.' + name)}, 'array<variant>')"
        return f"coalesce({items}, {self.empty_json_list()})"

    def json_items(self, x: str, names: list[str]) -> str:
        out = self._member_items(x, names[0])
        for n in names[1:]:
            v = self.fresh()
            out = self.flatten(self.transform(out, [v], self._member_items(v, n)))
        return out

    def json_member(self, x: str, name: str) -> str:
        return f"variant_get({x}, {quote('$.' + name + '[0]')}, 'variant')"

    def json_kind(self, x: str) -> str:
        s = f"schema_of_variant({x})"
        return (
            f"(CASE WHEN {s} = 'STRING' THEN 'string' WHEN {s} = 'BOOLEAN' THEN 'boolean' "
            f"WHEN {s} LIKE 'OBJECT%' THEN 'object' WHEN {s} LIKE 'ARRAY%' THEN 'array' "
            f"WHEN {s} = 'VOID' THEN 'null' ELSE 'number' END)"
        )

    def json_value(self, x: str, kind: str) -> str:
        t = self.type_name(kind)
        if t == "string":
            return (
                f"(CASE WHEN schema_of_variant({x}) = 'STRING' THEN variant_get({x}, '$', 'string') "
                f"ELSE to_json({x}) END)"
            )
        return f"try_variant_get({x}, '$', '{t}')"

    def to_json(self, sql_value: str) -> str:
        return f"CAST({sql_value} AS VARIANT)"

    def json_decimal_places(self, x: str, text: str) -> str:
        # a variant keeps a JSON number as DECIMAL(p,s): its scale is the digits written
        scale = f"regexp_extract(schema_of_variant({x}), 'DECIMAL\\\\([0-9]+,([0-9]+)\\\\)', 1)"
        return f"coalesce(try_cast(nullif({scale}, '') AS int), 0)"

    def split_part(self, text: str, sep: str, n: int) -> str:
        return f"coalesce(split_part({text}, {quote(sep)}, {n}), '')"

    def last_day(self, iso_date: str) -> str:
        return f"date_format(last_day(to_date({iso_date})), 'yyyy-MM-dd')"

    def days_between(self, start: str, end: str) -> str:
        return f"datediff({end}, {start})"

    def jaro_winkler(self, a: str, b: str) -> str:
        return f"jaro_winkler({a}, {b})"  # from Splink's jar (`engines.spark`)

    def one_substitution(self, a: str, b: str) -> str:
        # between texts of equal length a Levenshtein distance of 1 is one substitution
        return f"levenshtein({a}, {b}) = 1"

    def fail(self, message: str) -> str:
        return f"raise_error({quote(message)})"


#: every dialect, by name
DIALECTS: dict[str, type[Dialect]] = {d.name: d for d in (DuckDB, Spark)}


def dialect(which: str | Dialect) -> Dialect:
    """A new dialect object by name (a dialect object is returned as it is)."""
    if isinstance(which, Dialect):
        return which
    try:
        return DIALECTS[which]()
    except KeyError:
        raise ValueError(f"unknown dialect {which!r}: {' or '.join(DIALECTS)}") from None
