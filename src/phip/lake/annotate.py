"""Facts the lake records about a resource besides its content, added as extensions while the
resource is prepared for the views (never stored):

- every resource: `lake-record` with a fingerprint of its content (without id and meta: two
  submissions of the same record have the same fingerprint) and its change sequence;
- Patient: `lake-identity`, what the data-quality rules need to know about the personal
  elements without the lake holding them: the identity number's status (valid, legacy 15-digit,
  missing, or why it is invalid), the birth date and sex it encodes, the script of the name, the
  phone's format, and keyed pseudonyms (HMAC-SM3) of the identity number, name and phone, so
  records of one person can be compared without the values.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

import orjson

from phip.standards import codesystems as cs
from phip.standards import idcard
from phip.store import protect

BASE = "https://phip.health/fhir/StructureDefinition/"
RECORD_URL = BASE + "lake-record"
IDENTITY_URL = BASE + "lake-identity"

_HAN = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·•]+$")
_LATIN = re.compile(r"^[A-Za-z][A-Za-z .'-]*$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def annotate(res: dict[str, Any], seq: int) -> None:
    """Add the lake's extensions to `res` in place (its protected values decrypted first)."""
    protect.unprotect(res)
    body = {k: v for k, v in res.items() if k not in ("id", "meta")}
    fingerprint = hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=10).hexdigest()
    ext = res.setdefault("extension", [])
    if not isinstance(ext, list):
        return
    ext.append(
        {
            "url": RECORD_URL,
            "extension": [
                {"url": "fingerprint", "valueString": fingerprint},
                {"url": "seq", "valueInteger": seq},
            ],
        }
    )
    if res.get("resourceType") == "Patient":
        ext.append({"url": IDENTITY_URL, "extension": _identity(res)})


@lru_cache(maxsize=4)
def _token_key(lookup: bytes) -> bytes:
    return protect.hmac_sm3(lookup, b"phip-lake-pseudonym")


def token(value: str) -> str:
    """A keyed pseudonym of a personal value: equal values give equal tokens (for one data key)."""
    return protect.hmac_sm3(_token_key(protect.keys()[1]), value.encode()).hex()[:24]


def _identity(res: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, kind: str, value: Any) -> None:
        if value not in (None, ""):
            out.append({"url": name, kind: value})

    status, number, full = _id_status(res)
    add("id-status", "valueCode", status)
    if number and full:
        add("id-token", "valueString", token(full))
        add("id-birth-date", "valueDate", idcard.birth_date(full).isoformat())
        add("id-sex", "valueCode", "male" if idcard.sex_code(full) == "1" else "female")
    name = _name_text(res)
    if name:
        add("name-token", "valueString", token(re.sub(r"\s+", "", name)))
        script = "han" if _HAN.match(name) else "latin" if _LATIN.match(name) else "other"
        add("name-script", "valueCode", script)
    phone = next(
        (t["value"] for t in res.get("telecom") or [] if protect.is_phone(t) and t["value"].strip()), None
    )
    if phone:
        digits = phone.strip().replace(" ", "")
        add("phone-token", "valueString", token(re.sub(r"\D", "", digits)))
        ok = _MOBILE.match(digits) or _LANDLINE.match(digits)
        add("phone-status", "valueCode", "valid" if ok else "invalid")
    return out


def _id_status(res: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(status, the number and its 18-digit form when it is valid)."""
    values = [
        i.get("value")
        for i in res.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == cs.ID_RESIDENT and isinstance(i.get("value"), str)
    ]
    if not values:
        marked = any(
            isinstance(e, dict) and e.get("url") == cs.EXT_ID_MISSING for e in res.get("extension") or []
        )
        return ("missing-marked" if marked else "missing"), None, None
    result = idcard.default_checker().validate(idcard.normalize(values[0]))
    if not result.valid:
        return f"invalid-{result.reason}", None, None
    return ("legacy15" if result.legacy15 else "valid"), result.normalized, result.id18


def _name_text(res: dict[str, Any]) -> str:
    for n in res.get("name") or []:
        if not isinstance(n, dict):
            continue
        text = n.get("text") or (n.get("family") or "") + "".join(n.get("given") or [])
        if isinstance(text, str) and text.strip():
            return text.strip()
    return ""
