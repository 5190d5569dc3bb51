"""SQL-on-FHIR v2 ViewDefinitions compiled to one SQL query per engine (the SQL primitives of
each engine come from its dialect, `phip.engines.dialects`).

Each resource row becomes a list of output rows (structs) built by composing list functions:
a `select` gives one row from its columns, crossed with the rows of its nested selects and its
`unionAll`; `forEach` / `forEachOrNull` / `repeat` give one set of rows per item of a
collection. FHIRPath expressions compile to lists of JSON values (FHIRPath collections), to SQL
booleans (NULL = empty) or to SQL scalars; see `_Expr`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from phip.engines import dialects
from phip.engines.dialects import Dialect
from phip.lake import fhirpath as fp
from phip.lake.boundary import complete_date, complete_time


class ViewError(ValueError):
    """The view definition is not valid (or uses what this runner does not support)."""


@dataclass(frozen=True)
class _Expr:
    sql: str
    kind: str  # coll (list of JSON) / bool / num / str


@dataclass
class _Ctx:
    """Where an expression is evaluated: `$this` (a JSON value), the resource, the row index."""

    this: str
    resource: str
    row_index: str
    constants: dict[str, _Expr]
    depth: int = 0
    vars: list[str] = field(default_factory=list)


_REPEAT_DEPTH = 8  # `repeat` follows paths this many levels down

#: FHIR types whose values are integers (a view column of any type not named here is a string,
#: or a number or boolean as its type says)
_INTEGER = {"integer", "positiveInt", "unsignedInt", "integer64"}


def kind(fhir_type: str) -> str:
    """The portable column kind (`phip.engines.dialects.KINDS`) of a view column's FHIR type."""
    if fhir_type in _INTEGER:
        return "bigint"
    return {"decimal": "double", "boolean": "boolean"}.get(fhir_type, "string")


class Compiler:
    def __init__(self, dialect: Dialect):
        self.d = dialect
        self.n = 0
        self.type_hint = "string"  # the FHIR type of the column being compiled

    def as_sql(self, x: str, fhir_type: str) -> str:
        """A JSON scalar as an SQL value of the column type."""
        return self.d.json_value(x, kind(fhir_type))

    def var(self) -> str:
        self.n += 1
        return f"v{self.n}"

    # ---- collections and conversions ----
    def coll(self, e: _Expr) -> str:
        if e.kind == "coll":
            return e.sql
        return (
            f"(CASE WHEN ({e.sql}) IS NULL THEN {self.d.empty_json_list()} "
            f"ELSE {self.d.json_list([self.d.to_json(e.sql)])} END)"
        )

    def first(self, e: _Expr) -> str:
        """The single item of a collection as JSON (NULL when empty)."""
        return self.d.first_item(self.coll(e))

    def boolean(self, e: _Expr) -> str:
        if e.kind == "bool":
            return e.sql
        if e.kind == "coll":
            return f"{self.as_sql(self.first(e), 'boolean')}"
        raise ViewError("expected a boolean expression")

    def number(self, e: _Expr) -> str:
        if e.kind == "num":
            return e.sql
        return self.as_sql(self.first(e), "decimal")

    def string(self, e: _Expr) -> str:
        if e.kind == "str":
            return e.sql
        return self.as_sql(self.first(e), "string")

    # ---- expressions ----
    def expr(self, node: Any, ctx: _Ctx) -> _Expr:
        d = self.d
        if isinstance(node, fp.This):
            return _Expr(d.json_list([ctx.this]), "coll")
        if isinstance(node, fp.Literal):
            if node.type == "boolean":
                return _Expr("true" if node.value else "false", "bool")
            if node.type in ("integer", "decimal"):
                return _Expr(str(node.value), "num")
            return _Expr(d.json_list([d.json_literal(node.value)]), "coll")
        if isinstance(node, fp.Empty):
            return _Expr(d.empty_json_list(), "coll")
        if isinstance(node, fp.Var):
            if node.name == "rowIndex":
                return _Expr(ctx.row_index, "num")
            if node.name not in ctx.constants:
                raise ViewError(f"unknown constant %{node.name}")
            return ctx.constants[node.name]
        if isinstance(node, fp.Member):
            names = [node.name]
            target = node.target
            while isinstance(target, fp.Member):
                names.insert(0, target.name)
                target = target.target
            if isinstance(target, fp.This):  # a path from the context: one navigation
                return _Expr(d.json_items(ctx.this, names), "coll")
            base = self.coll(self.expr(target, ctx))
            x = self.var()
            return _Expr(d.flatten(d.transform(base, [x], d.json_items(x, names))), "coll")
        if isinstance(node, fp.Index):
            base = self.coll(self.expr(node.target, ctx))
            i = self.number(self.expr(node.index, ctx))
            return _Expr(d.slice(base, f"CAST({i} AS BIGINT)", "1"), "coll")
        if isinstance(node, fp.Call):
            return self.call(node, ctx)
        if isinstance(node, fp.Binary):
            return self.binary(node, ctx)
        if isinstance(node, fp.Unary):
            inner = self.number(self.expr(node.operand, ctx))
            return _Expr(f"(-{inner})" if node.op == "-" else inner, "num")
        raise ViewError(f"unsupported expression {node!r}")

    def binary(self, node: fp.Binary, ctx: _Ctx) -> _Expr:
        op = node.op
        left, right = self.expr(node.left, ctx), self.expr(node.right, ctx)
        if op in ("and", "or"):
            return _Expr(f"({self.boolean(left)} {op.upper()} {self.boolean(right)})", "bool")
        if op == "xor":
            return _Expr(f"({self.boolean(left)} <> {self.boolean(right)})", "bool")
        if op == "implies":
            return _Expr(f"((NOT {self.boolean(left)}) OR {self.boolean(right)})", "bool")
        if op in ("+", "-", "*", "/"):
            if op == "+" and "str" in (left.kind, right.kind):
                return _Expr(f"({self.string(left)} || {self.string(right)})", "str")
            return _Expr(f"({self.number(left)} {op} {self.number(right)})", "num")
        if op == "&":
            return _Expr(f"(coalesce({self.string(left)}, '') || coalesce({self.string(right)}, ''))", "str")
        if op == "|":
            return _Expr(self.d.concat([self.coll(left), self.coll(right)]), "coll")
        if op in ("=", "!=", "<", ">", "<=", ">=", "~", "!~"):
            return _Expr(self.compare(op, left, right), "bool")
        raise ViewError(f"unsupported operator {op}")

    def compare(self, op: str, left: _Expr, right: _Expr) -> str:
        sql_op = {"~": "=", "!~": "<>", "!=": "<>"}.get(op, op)
        if "num" in (left.kind, right.kind):
            return f"({self.number(left)} {sql_op} {self.number(right)})"
        if "bool" in (left.kind, right.kind):
            return f"({self.boolean(left)} {sql_op} {self.boolean(right)})"
        if "str" in (left.kind, right.kind):
            return f"({self.string(left)} {sql_op} {self.string(right)})"
        a, b = self.first(left), self.first(right)
        d = self.d
        numeric = f"({d.json_kind(a)} = 'number' AND {d.json_kind(b)} = 'number')"
        return (
            f"(CASE WHEN {a} IS NULL OR {b} IS NULL THEN NULL "
            f"WHEN {numeric} THEN {self.as_sql(a, 'decimal')} {sql_op} {self.as_sql(b, 'decimal')} "
            f"ELSE {self.as_sql(a, 'string')} {sql_op} {self.as_sql(b, 'string')} END)"
        )

    def call(self, node: fp.Call, ctx: _Ctx) -> _Expr:
        d, name, args = self.d, node.name, node.args
        if name == "ofType":
            if not isinstance(node.target, fp.Member) or len(args) != 1 or not isinstance(args[0], fp.Member):
                raise ViewError("ofType() is supported on a choice element, with a type name")
            type_name = args[0].name
            return self.expr(
                fp.Member(node.target.target, node.target.name + type_name[0].upper() + type_name[1:]), ctx
            )
        if name == "getResourceKey":
            rtype = self.as_sql(self._get(ctx.resource, "resourceType"), "string")
            return _Expr(f"({rtype} || '/' || {self.as_sql(self._get(ctx.resource, 'id'), 'string')})", "str")
        target = self.expr(node.target, ctx)
        base = self.coll(target)
        if name == "getReferenceKey":
            # every reference's key (`Type/id`), only those of the given type when one is named
            x, r, k = self.var(), self.var(), self.var()
            refs = d.flatten(d.transform(base, [x], d.json_items(x, ["reference"])))
            pattern = "([A-Za-z]+/[^/]+)(/_history/.*)?$"
            key = f"nullif(regexp_extract({self.as_sql(r, 'string')}, '{pattern}', 1), '')"
            if args:
                if not isinstance(args[0], fp.Member):
                    raise ViewError("getReferenceKey() takes a resource type name")
                key = f"(CASE WHEN {key} LIKE '{args[0].name}/%' THEN {key} END)"
            keys = d.transform(refs, [r], d.to_json(key))
            return _Expr(d.filter(keys, k, f"{k} IS NOT NULL"), "coll")
        if name in ("lowBoundary", "highBoundary"):
            return self.boundary(node, target, name == "lowBoundary")
        if name == "exists":
            items = self.where(base, args[0], ctx) if args else base
            return _Expr(f"({d.length(items)} > 0)", "bool")
        if name == "empty":
            return _Expr(f"({d.length(base)} = 0)", "bool")
        if name == "count":
            return _Expr(d.length(base), "num")
        if name == "not":
            return _Expr(f"(NOT {self.boolean(target)})", "bool")
        if name == "first":
            return _Expr(d.slice(base, "0", "1"), "coll")
        if name == "last":
            return _Expr(d.slice(base, f"{d.length(base)} - 1", "1"), "coll")
        if name == "where":
            if len(args) != 1:
                raise ViewError("where() takes one criterion")
            return _Expr(self.where(base, args[0], ctx), "coll")
        if name == "join":
            sep = self.string(self.expr(args[0], ctx)) if args else "''"
            x = self.var()
            return _Expr(f"coalesce({d.string_join(base, x, self.as_sql(x, 'string'), sep)}, '')", "str")
        if name == "extension":
            if len(args) != 1 or not isinstance(args[0], fp.Literal):
                raise ViewError("extension() takes a url")
            x, y = self.var(), self.var()
            exts = d.flatten(d.transform(base, [x], d.json_items(x, ["extension"])))
            url = self.as_sql(self._get(y, "url"), "string")
            return _Expr(d.filter(exts, y, f"{url} = {fp_quote(args[0].value)}"), "coll")
        raise ViewError(f"unsupported function {name}()")

    def boundary(self, node: fp.Call, target: _Expr, low: bool) -> _Expr:
        """lowBoundary() / highBoundary() of a decimal, date, dateTime or time (the type from an
        `ofType()` before it, else from the column's type)."""
        d = self.d
        fhir_type = self.type_hint
        if isinstance(node.target, fp.Call) and node.target.name == "ofType" and node.target.args:
            fhir_type = getattr(node.target.args[0], "name", fhir_type)
        item = self.first(target)
        text = self.as_sql(item, "string")
        if fhir_type in ("decimal", "Quantity"):
            digits = d.json_decimal_places(item, text)
            half = f"(0.5 / power(10, {digits}))"
            value = self.as_sql(item, "decimal")
            return _Expr(f"({value} {'-' if low else '+'} {half})", "num")
        if fhir_type == "time":
            pad = ("00", "00", "000") if low else ("59", "59", "999")
            return _Expr(complete_time(text, pad), "str")
        date = complete_date(d, text, low)
        if fhir_type == "date":
            return _Expr(f"(CASE WHEN length({text}) <= 10 THEN {date} END)", "str")
        zone = "+14:00" if low else "-12:00"
        pad = ("00", "00", "000") if low else ("59", "59", "999")
        time_part = complete_time(f"substr({text}, 12)", pad)
        whole_day = complete_time("''", pad)
        return _Expr(
            f"(CASE WHEN length({text}) <= 10 THEN {date} || 'T' || {whole_day} || '{zone}' "
            f"ELSE substr({text}, 1, 11) || {time_part} END)",
            "str",
        )

    def _get(self, x: str, name: str) -> str:
        """The first item of member `name` of JSON value x (NULL when absent)."""
        return self.d.json_member(x, name)

    def where(self, base: str, criterion: Any, ctx: _Ctx) -> str:
        x = self.var()
        inner = _Ctx(x, ctx.resource, ctx.row_index, ctx.constants)
        return self.d.filter(base, x, self.boolean(self.expr(criterion, inner)))

    # ---- views ----
    def columns(self, select: dict[str, Any]) -> list[dict[str, Any]]:
        """The output columns of a select, in order: its own, then nested selects', then unionAll's."""
        out = list(select.get("column") or [])
        for s in select.get("select") or []:
            out += self.columns(s)
        union = select.get("unionAll") or []
        if union:
            first = self.columns(union[0])
            names = [c["name"] for c in first]
            for other in union[1:]:
                if [c["name"] for c in self.columns(other)] != names:
                    raise ViewError("unionAll branches must have the same columns")
            out += first
        return out

    def column_value(self, col: dict[str, Any], ctx: _Ctx) -> str:
        if not isinstance(col.get("name"), str) or not isinstance(col.get("path"), str):
            raise ViewError("a column needs a name and a path")
        self.type_hint = col.get("type") or "string"
        e = self.expr(fp.parse(col["path"]), ctx)
        fhir_type = col.get("type") or {"bool": "boolean", "num": "decimal"}.get(e.kind, "string")
        if col.get("collection"):
            x = self.var()
            return self.d.transform(self.coll(e), [x], self.as_sql(x, fhir_type))
        if e.kind == "bool":
            return e.sql
        if e.kind == "num":
            return f"CAST({e.sql} AS {self.d.type_name(kind(fhir_type))})"
        if e.kind == "str":
            return e.sql
        c = self.d.fresh()
        value = self.as_sql(self.d.first_item(c), fhir_type)
        fail = self.d.fail(col["name"] + " has several values: mark it collection")
        return self.d.let(e.sql, c, f"(CASE WHEN {self.d.length(c)} > 1 THEN {fail} ELSE {value} END)")

    def rows(self, select: dict[str, Any], ctx: _Ctx) -> str:
        """The list of output rows (structs) of `select` for one context."""
        d = self.d
        each = [k for k in ("forEach", "forEachOrNull", "repeat") if k in select]
        if len(each) > 1:
            raise ViewError("a select has at most one of forEach, forEachOrNull, repeat")
        if not each:
            return self.rows_here(select, ctx)
        key = each[0]
        if key == "repeat":
            paths = select["repeat"]
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise ViewError("repeat takes a list of paths")
            items = self.repeat(paths, ctx)
        else:
            if not isinstance(select[key], str):
                raise ViewError(f"{key} takes a FHIRPath expression")
            items = self.coll(self.expr(fp.parse(select[key]), ctx))
        x, i = self.var(), self.var()
        inner = _Ctx(x, ctx.resource, f"({i} - {d.first_index})", ctx.constants)
        per_item = d.flatten(d.transform(items, [x, i], self.rows_here(select, inner)))
        if key == "forEachOrNull":
            # no item: one row evaluated on nothing (its columns null, %rowIndex 0)
            nothing = self.rows_here(select, _Ctx(d.null_json(), ctx.resource, "0", ctx.constants))
            return f"(CASE WHEN {d.length(items)} = 0 THEN {nothing} ELSE {per_item} END)"
        return per_item

    def repeat(self, paths: list[str], ctx: _Ctx) -> str:
        """Every node the paths reach from the context, recursively, in depth-first order (each
        node before its descendants), down to `_REPEAT_DEPTH` levels."""
        d = self.d
        trees = [fp.parse(p) for p in paths]

        def children(this: str) -> str:
            inner = _Ctx(this, ctx.resource, ctx.row_index, ctx.constants)
            return d.concat([self.coll(self.expr(t, inner)) for t in trees])

        def expand(items: str, depth: int) -> str:
            if depth == 0:
                return items
            x = self.var()
            below = expand(children(x), depth - 1)
            return d.flatten(d.transform(items, [x], d.concat([d.json_list([x]), below])))

        return expand(children(ctx.this), _REPEAT_DEPTH - 1)

    def rows_here(self, select: dict[str, Any], ctx: _Ctx) -> str:
        """Rows of a select at one item: its columns crossed with nested selects and unionAll."""
        d = self.d
        own = [(c["name"], self.column_value(c, ctx)) for c in select.get("column") or []]
        parts: list[tuple[list[str], str]] = []
        if own:
            parts.append(
                (
                    [n for n, _ in own],
                    d.array([d.struct(own)]),
                )
            )
        for s in select.get("select") or []:
            parts.append(([c["name"] for c in self.columns(s)], self.rows(s, ctx)))
        union = select.get("unionAll") or []
        if union:
            names = [c["name"] for c in self.columns(union[0])]
            parts.append((names, d.concat([self.rows(u, ctx) for u in union])))
        if not parts:
            raise ViewError("a select needs columns, a nested select or unionAll")
        names, rows = parts[0]
        for other_names, other in parts[1:]:
            a, b = self.var(), self.var()
            merged = d.struct([(n, d.field(a, n)) for n in names] + [(n, d.field(b, n)) for n in other_names])
            rows = d.flatten(d.transform(rows, [a], d.transform(other, [b], merged)))
            names = names + other_names
        if len(set(names)) != len(names):
            raise ViewError("column names must be unique")
        return rows


def fp_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_CONSTANT_TYPES = {
    "valueBoolean": "boolean",
    "valueInteger": "integer",
    "valueDecimal": "decimal",
    "valuePositiveInt": "integer",
    "valueUnsignedInt": "integer",
    "valueInteger64": "integer",
}


def compile_view(
    view: dict[str, Any],
    dialect: Dialect | str = "duckdb",
    source: str = "resources",
    passthrough: tuple[str, ...] = (),
) -> tuple[str, list[str]]:
    """(SQL, column names) of a ViewDefinition over `source` (columns `resource_type`, `resource`
    with the resource as JSON text). Columns named in `passthrough` are copied from the source row
    to each of its output rows (after the view's columns; not in the names returned)."""
    if not isinstance(view, dict) or not isinstance(view.get("resource"), str):
        raise ViewError("a view needs a resource type")
    if not isinstance(view.get("select"), list) or not view["select"]:
        raise ViewError("a view needs a select")
    c = Compiler(dialects.dialect(dialect))
    d = c.d
    constants: dict[str, _Expr] = {}
    for const in view.get("constant") or []:
        keys = [k for k in const if k.startswith("value")]
        if "name" not in const or len(keys) != 1:
            raise ViewError("a constant needs a name and one value")
        value, kind = const[keys[0]], _CONSTANT_TYPES.get(keys[0], "string")
        if kind == "boolean":
            constants[const["name"]] = _Expr("true" if value else "false", "bool")
        elif kind in ("integer", "decimal"):
            constants[const["name"]] = _Expr(str(value), "num")
        else:
            constants[const["name"]] = _Expr(d.json_list([d.json_literal(value)]), "coll")
    resource = "res"
    ctx = _Ctx(resource, resource, "0", constants)
    top = {"select": view["select"]}
    names = [col["name"] for col in c.columns(top)]
    rows = c.rows_here(top, ctx)
    where = [f"resource_type = {fp_quote(view['resource'])}"]
    for w in view.get("where") or []:
        e = c.expr(fp.parse(w["path"]), ctx)
        if e.kind == "coll":
            first = c.first(e)
            kind = d.json_kind(first)
            value = c.as_sql(first, "boolean")
            fail = d.fail("a where path must give a boolean")
            where.append(
                f"(CASE WHEN {first} IS NULL THEN false WHEN {kind} = 'boolean' THEN {value} ELSE {fail} END)"
            )
        else:
            where.append(f"coalesce({c.boolean(e)}, false)")
    carried = "".join(f", {col}" for col in passthrough)
    src = f"(SELECT resource_type, {d.parse('resource')} AS {resource}{carried} FROM {source})"
    return d.explode_rows(rows, src, " AND ".join(where), passthrough), names
