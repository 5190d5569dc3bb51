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
from phip.standards.divisions import default_checker
from phip.store import protect

BASE = "https://phip.health/fhir/StructureDefinition/"
RECORD_URL = BASE + "lake-record"
IDENTITY_URL = BASE + "lake-identity"

_HAN = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·•]+$")
_LATIN = re.compile(r"^[A-Za-z][A-Za-z .'-]*$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


def fingerprint(res: dict[str, Any]) -> str:
    """A digest of the record's content without id and meta: two submissions of the same record
    under different ids have the same fingerprint."""
    body = {k: v for k, v in res.items() if k not in ("id", "meta")}
    return hashlib.blake2b(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=10).hexdigest()


def annotate(res: dict[str, Any], seq: int) -> None:
    """Add the lake's extensions to `res` in place (its protected values decrypted first)."""
    protect.unprotect(res)
    digest = fingerprint(res)
    ext = res.setdefault("extension", [])
    if not isinstance(ext, list):
        return
    ext.append(
        {
            "url": RECORD_URL,
            "extension": [
                {"url": "fingerprint", "valueString": digest},
                {"url": "seq", "valueInteger": seq},
            ],
        }
    )
    if res.get("resourceType") == "Patient":
        facts = identity_facts(res)
        ext.append(
            {
                "url": IDENTITY_URL,
                "extension": [
                    {"url": name.replace("_", "-"), IDENTITY_FACTS[name]: value}
                    for name, value in facts.items()
                ],
            }
        )


#: identity fact → the value[x] it is carried in
IDENTITY_FACTS = {
    "id_status": "valueCode",
    "id_token": "valueString",
    "id_birth_date": "valueDate",
    "id_sex": "valueCode",
    "name_token": "valueString",
    "name_script": "valueCode",
    "name_length": "valueInteger",
    "phone_token": "valueString",
    "phone_status": "valueCode",
}


@lru_cache(maxsize=4)
def _token_key(lookup: bytes) -> bytes:
    return protect.hmac_sm3(lookup, b"phip-lake-pseudonym")


def token(value: str) -> str:
    """A keyed pseudonym of a personal value: equal values give equal tokens (for one data key)."""
    return protect.hmac_sm3(_token_key(protect.keys()[1]), value.encode()).hex()[:24]


def identity_facts(res: dict[str, Any]) -> dict[str, str | int]:
    """What the rules need to know about a Patient's personal elements, without the values
    (a decrypted resource): the identity number's status, the birth date and sex it encodes, the
    name's script and length in characters, the phone's format, and pseudonyms of the number,
    name and phone."""
    out: dict[str, str | int] = {}
    status, number, full = _id_status(res)
    out["id_status"] = status
    if number and full:
        out["id_token"] = token(full)
        out["id_birth_date"] = idcard.birth_date(full).isoformat()
        out["id_sex"] = "male" if idcard.sex_code(full) == "1" else "female"
    name = _name_text(res)
    if name:
        compact = re.sub(r"\s+", "", name)
        out["name_token"] = token(compact)
        out["name_length"] = len(compact)
        out["name_script"] = "han" if _HAN.match(name) else "latin" if _LATIN.match(name) else "other"
    phone = next(
        (t["value"] for t in res.get("telecom") or [] if protect.is_phone(t) and t["value"].strip()), None
    )
    if phone:
        digits = phone.strip().replace(" ", "")
        out["phone_token"] = token(re.sub(r"\D", "", digits))
        ok = _MOBILE.match(digits) or _LANDLINE.match(digits)
        out["phone_status"] = "valid" if ok else "invalid"
    return out


def repair_tokens(res: dict[str, Any]) -> list[str]:
    """Pseudonyms of the valid numbers one edit (a digit changed, two swapped) away from an
    identity number that fails its check: a refused record's probable true number."""
    values = _resident_ids(res)
    if not values:
        return []
    return [token(n) for n in default_checker().one_edit_repairs(values[0])]


def _resident_ids(res: dict[str, Any]) -> list[str]:
    return [
        i["value"]
        for i in res.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == cs.ID_RESIDENT and isinstance(i.get("value"), str)
    ]


def _id_status(res: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """(status, the number and its 18-digit form when it is valid)."""
    values = _resident_ids(res)
    if not values:
        marked = any(
            isinstance(e, dict) and e.get("url") == cs.EXT_ID_MISSING for e in res.get("extension") or []
        )
        return ("missing-marked" if marked else "missing"), None, None
    result = default_checker().validate(idcard.normalize(values[0]))
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
