"""The FHIRPath subset SQL-on-FHIR v2 views use, parsed into a small syntax tree that `compile.py`
turns into SQL: paths, indexers, function calls, `$this`, `%constants`, literals (strings,
numbers, booleans, dates and times), and the operators with FHIRPath's precedence.

A Pratt parser: each operator has a binding power; postfix `.member`, `.fn(args)` and `[index]`
bind tightest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class FHIRPathError(ValueError):
    pass


# ---- syntax tree ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: Any
    type: str  # string / integer / decimal / boolean / date / dateTime / time


@dataclass(frozen=True)
class Empty:
    """`{}`: the empty collection."""


@dataclass(frozen=True)
class This:
    """`$this`, or the input of the expression when a path starts with a member name."""


@dataclass(frozen=True)
class Var:
    name: str  # `%name` (a view constant, or rowIndex)


@dataclass(frozen=True)
class Member:
    target: Any
    name: str


@dataclass(frozen=True)
class Call:
    target: Any
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Index:
    target: Any
    index: Any


@dataclass(frozen=True)
class Binary:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Any


@dataclass(frozen=True)
class TypeOp:
    op: str  # is / as
    target: Any
    type: str


# ---- tokens ---------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<datetime>@\d{4}(-\d{2}(-\d{2})?)?(T(\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}:\d{2})?)?)
  | (?P<time>@T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)
  | (?P<number>\d+(\.\d+)?)
  | (?P<string>'(\\.|[^'\\])*')
  | (?P<quoted>`(\\.|[^`\\])*`)
  | (?P<special>\$this|\$index|\$total)
  | (?P<var>%[A-Za-z_][A-Za-z0-9_]*|%`[^`]*`|%'[^']*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|!~|[-+*/&|<>=~.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and i + 5 < len(body):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FHIRPathError(f"unexpected {text[pos]!r} at {pos} in {text!r}")
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    out.append(Token("end", "", pos))
    return out


# ---- parser ---------------------------------------------------------------------------------------
#: binding powers (higher binds tighter), after the FHIRPath operator precedence table
_INFIX = {
    "implies": 1,
    "or": 2,
    "xor": 2,
    "and": 3,
    "in": 4,
    "contains": 4,
    "=": 5,
    "~": 5,
    "!=": 5,
    "!~": 5,
    "<": 6,
    ">": 6,
    "<=": 6,
    ">=": 6,
    "|": 7,
    "is": 8,
    "as": 8,
    "+": 9,
    "-": 9,
    "&": 9,
    "*": 10,
    "/": 10,
    "div": 10,
    "mod": 10,
}
_PREFIX_POWER = 11


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.next()
        if tok.text != text:
            raise FHIRPathError(f"expected {text!r} at {tok.pos} in {self.text!r}, found {tok.text!r}")

    def parse(self) -> Any:
        node = self.expression(0)
        if self.peek().kind != "end":
            tok = self.peek()
            raise FHIRPathError(f"unexpected {tok.text!r} at {tok.pos} in {self.text!r}")
        return node

    def _infix_op(self, tok: Token) -> str | None:
        if tok.kind == "op" and tok.text in _INFIX:
            return tok.text
        if tok.kind == "ident" and tok.text in _INFIX:
            return tok.text
        return None

    def expression(self, min_power: int) -> Any:
        left = self.prefix()
        while True:
            op = self._infix_op(self.peek())
            if op is None or _INFIX[op] <= min_power:
                return left
            self.next()
            if op in ("is", "as"):
                left = TypeOp(op, left, self.type_name())
            else:
                left = Binary(op, left, self.expression(_INFIX[op]))

    def type_name(self) -> str:
        name = self._name(self.next())
        while self.peek().text == ".":
            self.next()
            name += "." + self._name(self.next())
        return name

    def prefix(self) -> Any:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("-", "+"):
            self.next()
            return self.postfix(Unary(tok.text, self.expression(_PREFIX_POWER)))
        return self.postfix(self.term())

    def term(self) -> Any:
        tok = self.next()
        if tok.kind == "string":
            return Literal(_unescape(tok.text[1:-1]), "string")
        if tok.kind == "number":
            return Literal(tok.text, "decimal" if "." in tok.text else "integer")
        if tok.kind == "datetime":
            body = tok.text[1:]
            return Literal(body, "dateTime" if "T" in body else "date")
        if tok.kind == "time":
            return Literal(tok.text[2:], "time")
        if tok.kind == "special":
            if tok.text == "$this":
                return This()
            return Var(tok.text[1:])
        if tok.kind == "var":
            name = tok.text[1:]
            return Var(name[1:-1] if name[:1] in "`'" else name)
        if tok.kind == "ident" and tok.text in ("true", "false"):
            return Literal(tok.text == "true", "boolean")
        if tok.kind in ("ident", "quoted"):
            name = self._name(tok)
            if self.peek().text == "(":
                return Call(This(), name, self.arguments())
            return Member(This(), name)
        if tok.text == "(":
            inner = self.expression(0)
            self.expect(")")
            return inner
        if tok.text == "{":
            self.expect("}")
            return Empty()
        raise FHIRPathError(f"unexpected {tok.text or 'end'!r} at {tok.pos} in {self.text!r}")

    def _name(self, tok: Token) -> str:
        if tok.kind == "quoted":
            return _unescape(tok.text[1:-1])
        if tok.kind != "ident":
            raise FHIRPathError(f"expected a name at {tok.pos} in {self.text!r}")
        return tok.text

    def arguments(self) -> tuple[Any, ...]:
        self.expect("(")
        args: list[Any] = []
        if self.peek().text != ")":
            args.append(self.expression(0))
            while self.peek().text == ",":
                self.next()
                args.append(self.expression(0))
        self.expect(")")
        return tuple(args)

    def postfix(self, node: Any) -> Any:
        while True:
            tok = self.peek()
            if tok.text == ".":
                self.next()
                name = self._name(self.next())
                node = Call(node, name, self.arguments()) if self.peek().text == "(" else Member(node, name)
            elif tok.text == "[":
                self.next()
                index = self.expression(0)
                self.expect("]")
                node = Index(node, index)
            else:
                return node


def parse(text: str) -> Any:
    """The syntax tree of a FHIRPath expression (FHIRPathError when it is not one)."""
    return _Parser(text).parse()
