"""The FHIRPath parser: precedence, literals, calls, and every expression of the SQL-on-FHIR
conformance suite."""

import json
from pathlib import Path
from typing import Any

import pytest

from phip.lake.fhirpath import (
    Binary,
    Call,
    Empty,
    FHIRPathError,
    Index,
    Literal,
    Member,
    This,
    TypeOp,
    Unary,
    Var,
    parse,
)

T = This()


def m(*names: str) -> Any:
    node: Any = T
    for n in names:
        node = Member(node, n)
    return node


CASES = [
    ("name.family", m("name", "family")),
    ("name.given.join(', ')", Call(m("name", "given"), "join", (Literal(", ", "string"),))),
    ("name[0].family", Member(Index(m("name"), Literal("0", "integer")), "family")),
    ("name[%i].family", Member(Index(m("name"), Var("i")), "family")),
    ("$this", T),
    ("%rowIndex", Var("rowIndex")),
    ("where(use = 'official')", Call(T, "where", (Binary("=", m("use"), Literal("official", "string")),))),
    (
        "a = 1 and b or c",
        Binary("or", Binary("and", Binary("=", m("a"), Literal("1", "integer")), m("b")), m("c")),
    ),
    ("a + b * c", Binary("+", m("a"), Binary("*", m("b"), m("c")))),
    ("a - b - c", Binary("-", Binary("-", m("a"), m("b")), m("c"))),
    ("a | b = c", Binary("=", Binary("|", m("a"), m("b")), m("c"))),
    ("-a.b", Unary("-", m("a", "b"))),
    ("(a = 'x').not()", Call(Binary("=", m("a"), Literal("x", "string")), "not", ())),
    ("value.ofType(Quantity).value", Member(Call(m("value"), "ofType", (m("Quantity"),)), "value")),
    ("a is Quantity", TypeOp("is", m("a"), "Quantity")),
    ("a as FHIR.string", TypeOp("as", m("a"), "FHIR.string")),
    ("@2020-01-02", Literal("2020-01-02", "date")),
    ("@2020-01-02T10:00:00Z", Literal("2020-01-02T10:00:00Z", "dateTime")),
    ("@T12:30", Literal("12:30", "time")),
    ("1.50", Literal("1.50", "decimal")),
    ("true", Literal(True, "boolean")),
    ("{}", Empty()),
    ("'it\\'s \\u00e9'", Literal("it's é", "string")),
    ("`div`.x", m("div", "x")),
    ("a implies b xor c", Binary("implies", m("a"), Binary("xor", m("b"), m("c")))),
    ("a div 2 mod 3", Binary("mod", Binary("div", m("a"), Literal("2", "integer")), Literal("3", "integer"))),
    (
        "x in y and z contains w",
        Binary("and", Binary("in", m("x"), m("y")), Binary("contains", m("z"), m("w"))),
    ),
]


@pytest.mark.parametrize(("text", "tree"), CASES)
def test_parse(text: str, tree: Any) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize("bad", ["name.", "a +", "(a", "a)", "'open", "name[0", "f(a,", "#"])
def test_errors_are_clear(bad: str) -> None:
    with pytest.raises(FHIRPathError):
        parse(bad)


def _paths(select: list[dict[str, Any]]) -> list[str]:
    out = []
    for s in select:
        out += [c["path"] for c in s.get("column", [])]
        out += [s[k] for k in ("forEach", "forEachOrNull") if k in s]
        out += list(s.get("repeat", []))
        out += _paths(s.get("select", [])) + _paths(s.get("unionAll", []))
    return out


def test_every_expression_of_the_conformance_suite_parses(shared_data: Path) -> None:
    suite = shared_data / "sql-on-fhir-v2-tests"
    count = 0
    for f in sorted(suite.glob("*.json")):
        for case in json.loads(f.read_text(encoding="utf-8"))["tests"]:
            view = case["view"]
            exprs = _paths(view.get("select", [])) + [w["path"] for w in view.get("where", []) or []]
            for text in exprs:
                if case.get("expectError") and not isinstance(text, str):
                    continue
                try:
                    parse(text)
                except FHIRPathError:
                    assert case.get("expectError"), (f.name, case["title"], text)
                count += 1
    assert count > 150


def test_normal_form_makes_every_member_a_list() -> None:
    from phip.lake.normal import normalise

    res = {
        "resourceType": "Patient",
        "id": "p",
        "name": [{"family": "F", "given": ["a", None]}],
        "active": None,
    }
    assert normalise(res) == {
        "resourceType": ["Patient"],
        "id": ["p"],
        "name": [{"family": ["F"], "given": ["a"]}],
    }
