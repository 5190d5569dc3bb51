"""What the audit log may say about a request without holding personal data.

A search's target keeps its resource type and every parameter name; values are kept only for
parameters that carry no personal data (paging, sorting, codes, statuses, dates of care,
record ids). Any other value (an identity number, a name, a phone, an address, a birth date) is
replaced by a keyed hash: an auditor can still see that two searches asked for the same value,
and a holder of the data key can test a suspected value, but the log itself reveals nothing.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from phip.store.protect import lookup_hash

#: parameters whose values are not personal data
PLAIN = frozenset(
    {
        "_id",
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_total",
        "_elements",
        "_type",
        "_lastUpdated",
        "_since",
        "status",
        "code",
        "category",
        "class",
        "type",
        "date",
        "period",
        "subject",
        "patient",
        "encounter",
        "organization",
        "performer",
        "requester",
        "service-type",
        "vaccine-code",
        "clinical-status",
    }
)


#: modifiers that do not change what a value is (`:identifier` does: it is not here)
MODIFIERS = frozenset({"exact", "missing", "not", "above", "below", "in", "not-in", "text", "contains"})


_NAME = re.compile(r"^([^:.]+)(?::([^:.]+))?((?:\.[^:.]+)*)$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


def _plain(name: str) -> bool:
    """A value is kept only if the parameter is in PLAIN, its one modifier is a harmless one or
    a resource type (`subject:Patient`), and every link of its chain is in PLAIN too
    (`subject:Patient.identifier` and `patient:identifier` are personal)."""
    m = _NAME.match(name)
    if m is None:
        return False
    base, modifier, chain = m.groups()
    if base not in PLAIN:
        return False
    if modifier is not None and modifier not in MODIFIERS and not _TYPE.match(modifier):
        return False
    return all(link in PLAIN for link in chain.split(".")[1:])


def value(name: str, raw: str) -> str:
    if name.split(":", 1)[0] == "_cursor":
        return "…"
    if _plain(name):
        return raw[:60]
    return lookup_hash(raw)[:14]


def query_target(rtype: str, params: list[tuple[str, str]]) -> str:
    """`Patient?identifier=h:3fa2…&_count=10` for an audit entry (at most 200 characters)."""
    if not params:
        return rtype[:200]
    return f"{rtype}?{urlencode([(k[:40], value(k, v)) for k, v in params])}"[:200]


def url_target(url: str) -> str:
    """The same for a request URL (`Patient?name=…` in a Bundle entry)."""
    parts = urlsplit(url)
    return query_target(parts.path.strip("/"), parse_qsl(parts.query, keep_blank_values=True))
