"""Fast structural validation of FHIR R4 JSON, compiled from the fhir.resources R4B models.

The schema (elements, cardinality, types, required elements, choice groups, primitive formats)
is read once from the models' metadata and then checked by plain Python over the parsed JSON,
without building model objects: about an order of magnitude faster than `model_validate`, and the
same verdict on the data facilities send (tests use fhir.resources as the oracle).

Deliberate differences, where the FHIR JSON rules are stricter than pydantic's lax parsing:
booleans must be JSON booleans and integers JSON numbers (not strings).
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from datetime import date
from functools import cache, lru_cache
from typing import Any

Issue = tuple[str, str, str]  # (code, path, detail)

_STRING = re.compile(r"[ \r\n\t\S]+")
_CODE = re.compile(r"[^\s]+(\s[^\s]+)*")
_ID = re.compile(r"[A-Za-z0-9\-.]+")
_URI = re.compile(r"\S*")
_OID = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_B64 = re.compile(r"(\s*([0-9a-zA-Z+/=]){4}\s*)+")
_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
)
_DATETIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|"
    r"3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|([+\-])((0[0-9]|"
    r"1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)
_INSTANT = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|"
    r"3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|([+\-])((0[0-9]|"
    r"1[0-3]):[0-5][0-9]|14:00))"
)
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?")
ID_MAX = 255  # fhir.resources' limit (the FHIR spec says 64; the platform profile enforces that)
INT_MIN, INT_MAX = -2147483648, 2147483647


def _real_date(s: str) -> bool:
    if len(s) < 10:
        return True  # partial dates: the regex has checked year and month
    try:
        date(int(s[0:4]), int(s[5:7]), int(s[8:10]))
    except ValueError:
        return False
    return True


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_primitive(kind: str, v: Any) -> str | None:
    """None if `v` is a valid value of FHIR primitive `kind`, else a short reason."""
    if kind == "boolean":
        return None if isinstance(v, bool) else "not a boolean"
    if kind in ("integer", "positiveInt", "unsignedInt", "integer64"):
        if not _is_int(v):
            return "not an integer"
        if kind == "positiveInt" and v < 1:
            return "not a positive integer"
        if kind == "unsignedInt" and v < 0:
            return "negative"
        if kind != "integer64" and not INT_MIN <= v <= INT_MAX:
            return "out of 32-bit range"
        return None
    if kind == "decimal":
        if isinstance(v, bool):
            return "not a decimal"
        if isinstance(v, int | float):
            return None
        if isinstance(v, str) and _DECIMAL.fullmatch(v):
            return None
        return "not a decimal"
    if not isinstance(v, str):
        return "not a string"
    if kind in ("string", "markdown", "xhtml"):
        return None if (kind != "string" or _STRING.fullmatch(v)) else "empty string"
    if kind == "code":
        return None if _CODE.fullmatch(v) else "not a code"
    if kind == "id":
        return None if _ID.fullmatch(v) and len(v) <= ID_MAX else "not an id"
    if kind in ("uri", "url", "canonical", "uuid"):
        return None if _URI.fullmatch(v) else "not a uri"
    if kind == "oid":
        return None if _OID.fullmatch(v) else "not an oid"
    if kind == "date":
        return None if _DATE.fullmatch(v) and _real_date(v) else "not a date"
    if kind == "dateTime":
        return None if _DATETIME.fullmatch(v) and _real_date(v) else "not a dateTime"
    if kind == "instant":
        return None if _INSTANT.fullmatch(v) and _real_date(v) else "not an instant"
    if kind == "time":
        return None if _TIME.fullmatch(v) else "not a time"
    if kind == "base64Binary":
        return None if _B64.fullmatch(v) else "not base64"
    return None


@dataclass(slots=True)
class Elem:
    key: str
    is_list: bool
    kind: str  # "prim" | "complex" | "resource" | "primext" | "comments"
    target: str  # primitive name, or type name for complex
    required: bool = False
    choice: str | None = None
    #: the fast yes/no check of one value (bound on first use: types refer to each other)
    ok: Any = None
    #: JSON null is allowed as an array item (primitives and their extensions)
    null_items: bool = False


@dataclass
class TypeSchema:
    name: str
    elems: dict[str, Elem] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    choices: dict[str, tuple[list[str], bool]] = field(default_factory=dict)
    is_resource: bool = False


_MARKERS = {
    "Id": "id",
    "Uri": "uri",
    "Url": "url",
    "Canonical": "canonical",
    "Code": "code",
    "String": "string",
    "Markdown": "markdown",
    "Xhtml": "xhtml",
    "Date": "date",
    "DateTime": "dateTime",
    "Instant": "instant",
    "Time": "time",
    "Decimal": "decimal",
    "Integer": "integer",
    "Integer64": "integer64",
    "UnsignedInt": "unsignedInt",
    "PositiveInt": "positiveInt",
    "Base64Binary": "base64Binary",
    "Oid": "oid",
    "Uuid": "uuid",
}


def _unwrap(annotation: Any) -> tuple[bool, Any]:
    """(is_list, inner type) from Optional/Union/List annotations."""
    is_list = False
    t = annotation
    while True:
        origin = typing.get_origin(t)
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
            t = args[0]
        elif origin in (list, typing.List):  # noqa: UP006
            is_list = True
            t = args[0]
        else:
            return is_list, t


def _classify(t: Any) -> tuple[str, str]:
    if typing.get_origin(t) is typing.Annotated:
        base, *meta = typing.get_args(t)
        for m in meta:
            name = type(m).__name__ if not isinstance(m, type) else m.__name__
            if name in _MARKERS:
                return "prim", _MARKERS[name]
        return "prim", "string" if base is str else "decimal"
    if t is bool:
        return "prim", "boolean"
    if t is str:
        return "prim", "string"
    name = getattr(t, "__name__", str(t))
    if name == "ResourceType":
        return "resource", ""
    if name == "FHIRPrimitiveExtensionType":
        return "primext", "FHIRPrimitiveExtension"
    return "complex", name.removesuffix("Type")


@cache
def schema(type_name: str) -> TypeSchema:
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(type_name)
    s = TypeSchema(type_name, is_resource=hasattr(model, "get_resource_type") and _is_resource(model))
    for name, f in model.model_fields.items():
        key = f.alias or name
        if name == "fhir_comments":
            s.elems[key] = Elem(key, False, "comments", "")
            continue
        is_list, inner = _unwrap(f.annotation)
        kind, target = _classify(inner)
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        e = Elem(key, is_list, kind, target)
        e.required = bool(f.is_required() or extra.get("element_required"))
        if extra.get("one_of_many"):
            e.choice = str(extra["one_of_many"])
            keys, req = s.choices.get(e.choice, ([], False))
            keys.append(key)
            s.choices[e.choice] = (keys, req or bool(extra.get("one_of_many_required")))
        s.elems[key] = e
        if e.required:
            s.required.append(key)
    return s


def _is_resource(model: Any) -> bool:
    from fhir.resources.R4B.resource import Resource

    return issubclass(model, Resource)


@lru_cache(maxsize=512)
def is_resource_type(name: str) -> bool:
    """True for the name of a FHIR R4 resource type (loads only that type's model)."""
    from fhir.resources.R4B import get_fhir_model_class

    if not name.isalpha() or not name[:1].isupper() or name in ("Resource", "DomainResource"):
        return False
    try:
        return _is_resource(get_fhir_model_class(name))
    except (KeyError, ValueError, ImportError, AttributeError):
        return False


@lru_cache(maxsize=1)
def resource_types() -> frozenset[str]:
    import pkgutil

    import fhir.resources.R4B as pkg
    from fhir.resources.R4B import get_fhir_model_class

    out = set()
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name.startswith("fhir") or m.name.endswith("types") or m.name in ("tests",):
            continue
        for cand in _candidate_names(m.name):
            try:
                cls = get_fhir_model_class(cand)
            except (KeyError, ValueError, ImportError, AttributeError):
                continue
            if _is_resource(cls) and cand not in ("Resource", "DomainResource"):
                out.add(cand)
    return frozenset(out)


def _candidate_names(module: str) -> list[str]:
    import importlib

    from fhir.resources.R4B import get_fhir_model_class  # noqa: F401

    mod = importlib.import_module(f"fhir.resources.R4B.{module}")
    return [n for n in dir(mod) if n.lower() == module]


def validate_resource(res: Any, path: str = "") -> list[Issue]:
    """Structural issues of one resource (empty list when valid)."""
    issues: list[Issue] = []
    if not isinstance(res, dict):
        return [("structure", path or "$", "a resource must be a JSON object")]
    rtype = res.get("resourceType")
    if not isinstance(rtype, str) or not is_resource_type(rtype):
        return [("unknown-type", f"{path}resourceType", f"unknown resourceType {rtype!r}")]
    _check_object(res, schema(rtype), path or rtype, issues, is_resource=True)
    return issues


def is_valid(res: Any) -> bool:
    """The verdict of `validate_resource(res) == []`, several times faster: no paths or messages
    are built, and the first problem ends the walk. Ingest calls it first and asks
    `validate_resource` for the reasons only when it says no."""
    if not isinstance(res, dict):
        return False
    rtype = res.get("resourceType")
    if not isinstance(rtype, str) or not is_resource_type(rtype):
        return False
    return _ok_object(res, schema(rtype), True)


def _ok_object(obj: dict[str, Any], s: TypeSchema, is_resource: bool) -> bool:
    elems = s.elems
    for key, value in obj.items():
        e = elems.get(key)
        if e is None:
            if is_resource and key == "resourceType":
                continue
            return False
        if value is None:
            continue
        ok = e.ok or _bind(e)
        if e.is_list:
            if not isinstance(value, list):
                return False
            for item in value:
                if item is None and e.null_items:
                    continue
                if not ok(item):
                    return False
        elif isinstance(value, list) or not ok(value):
            return False
    for key in s.required:
        if obj.get(key) is None and (elems[key].kind != "prim" or obj.get("_" + key) is None):
            return False
    for keys, required in s.choices.values():
        present = 0
        for k in keys:
            if obj.get(k) is not None:
                present += 1
        if present > 1 or (required and not present):
            return False
    return True


def _bind(e: Elem) -> Any:
    kind = e.kind
    if kind == "prim":
        target = e.target
        e.ok = _PRIMITIVE_OK.get(target) or (lambda v: _check_primitive(target, v) is None)
    elif kind in ("complex", "primext"):
        sub = schema(e.target)
        e.ok = lambda v: isinstance(v, dict) and _ok_object(v, sub, False)
    elif kind == "resource":
        e.ok = is_valid
    elif kind == "comments":
        e.ok = lambda v: isinstance(v, str | list)
    else:
        e.ok = lambda v: True
    e.null_items = kind in ("primext", "prim")
    return e.ok


def _regex_ok(rx: re.Pattern[str], real_date: bool = False) -> Any:
    """A check by regular expression, memoised: codes, systems and dates repeat endlessly."""
    match = rx.fullmatch
    memo: dict[str, bool] = {}

    def ok(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        r = memo.get(v)
        if r is None:
            r = match(v) is not None and (not real_date or _real_date(v))
            if len(memo) >= 100_000:
                memo.clear()
            memo[v] = r
        return r

    return ok


_PRIMITIVE_OK: dict[str, Any] = {
    "boolean": lambda v: isinstance(v, bool),
    "string": _regex_ok(_STRING),
    "markdown": lambda v: isinstance(v, str),
    "xhtml": lambda v: isinstance(v, str),
    "code": _regex_ok(_CODE),
    "uri": _regex_ok(_URI),
    "url": _regex_ok(_URI),
    "canonical": _regex_ok(_URI),
    "uuid": _regex_ok(_URI),
    "date": _regex_ok(_DATE, real_date=True),
    "dateTime": _regex_ok(_DATETIME, real_date=True),
    "instant": _regex_ok(_INSTANT, real_date=True),
}


def _check_object(
    obj: dict[str, Any], s: TypeSchema, path: str, issues: list[Issue], is_resource: bool
) -> None:
    elems = s.elems
    for key, value in obj.items():
        if is_resource and key == "resourceType":
            continue
        e = elems.get(key)
        if e is None:
            issues.append(("unknown-element", f"{path}.{key}", f"unknown element {key!r} in {s.name}"))
            continue
        if value is None:
            continue
        if e.is_list:
            if not isinstance(value, list):
                issues.append(("cardinality", f"{path}.{key}", "must be an array"))
                continue
            for i, item in enumerate(value):
                if item is None and e.kind in ("primext", "prim"):
                    continue
                _check_value(item, e, f"{path}.{key}[{i}]", issues)
        else:
            if isinstance(value, list):
                issues.append(("cardinality", f"{path}.{key}", "must not be an array"))
                continue
            _check_value(value, e, f"{path}.{key}", issues)
    for key in s.required:
        if obj.get(key) is None and (elems[key].kind != "prim" or obj.get("_" + key) is None):
            issues.append(("required", f"{path}.{key}", f"{s.name}.{key} is required"))
    for group, (keys, required) in s.choices.items():
        present = [k for k in keys if obj.get(k) is not None]
        if len(present) > 1:
            issues.append(("choice", f"{path}.{group}[x]", f"only one of {group}[x] allowed"))
        elif required and not present:
            issues.append(("required", f"{path}.{group}[x]", f"{s.name}.{group}[x] is required"))


def _check_value(v: Any, e: Elem, path: str, issues: list[Issue]) -> None:
    kind = e.kind
    if kind == "prim":
        reason = _check_primitive(e.target, v)
        if reason:
            issues.append(("value", path, f"{reason} ({e.target})"))
    elif kind == "complex" or kind == "primext":
        if not isinstance(v, dict):
            issues.append(("structure", path, f"must be an object ({e.target})"))
            return
        _check_object(v, schema(e.target), path, issues, is_resource=False)
    elif kind == "resource":
        issues.extend(validate_resource(v, path + "."))
    elif kind == "comments" and not isinstance(v, str | list):
        issues.append(("value", path, "fhir_comments must be text"))
