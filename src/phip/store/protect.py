"""Personal identifiers at rest: identity numbers and phone numbers are stored SM4-GCM encrypted
inside the resource, with a keyed SM3 hash (HMAC-SM3) in the search index for exact lookup.

Keys come from `PHIP_DATA_KEY` (32 hex characters = a 128-bit SM4 key); the lookup key is
derived from it. No key is ever derived from the signing secret (demo mode generates a random
data key at its first run).
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from phip.standards import codesystems as cs

PREFIX = "sm4:"
PROTECTED_SYSTEMS = frozenset({cs.ID_RESIDENT})


class DataKeyError(Exception):
    pass


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, hashes.SM3())
    h.update(data)
    return h.finalize()


_sm3 = hmac_sm3


@lru_cache(maxsize=4)
def _keys(material: str) -> tuple[bytes, bytes]:
    try:
        key = bytes.fromhex(material)
    except ValueError as exc:
        raise DataKeyError("PHIP_DATA_KEY must be 32 hex characters") from exc
    if len(key) != 16:
        raise DataKeyError("PHIP_DATA_KEY must be 32 hex characters (a 128-bit SM4 key)")
    return key, _sm3(key, b"phip-lookup")


_configured: list[str] = []


def configure(data_key: str) -> None:
    """Use this key in this process (the app calls it with its settings)."""
    if not data_key:
        raise DataKeyError("PHIP_DATA_KEY must be set (32 hex characters)")
    _configured[:] = [data_key]


def reset() -> None:
    """Forget the configured keys: the next use reads them from the settings again."""
    _configured.clear()


def current_key() -> str:
    """The data key in force in this process (hex), configured from the settings if need be."""
    keys()
    return _configured[0]


def keys() -> tuple[bytes, bytes]:
    if not _configured:
        from phip.settings import get_settings

        configure(get_settings().data_key)
    return _keys(_configured[0])


def encrypt(value: str) -> str:
    key, _ = keys()
    nonce = os.urandom(12)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    ct = enc.update(value.encode()) + enc.finalize()
    return PREFIX + base64.b64encode(nonce + ct + enc.tag).decode()


def decrypt(token: str) -> str:
    if not token.startswith(PREFIX):
        return token
    key, _ = keys()
    raw = base64.b64decode(token[len(PREFIX) :])
    nonce, ct, tag = raw[:12], raw[12:-16], raw[-16:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    try:
        return (dec.update(ct) + dec.finalize()).decode()
    except InvalidTag as exc:
        raise DataKeyError("a protected value does not decrypt with the configured data key") from exc


def encrypt_bytes(data: bytes) -> bytes:
    """SM4-GCM of a whole payload (quarantined raw records)."""
    key, _ = keys()
    nonce = os.urandom(12)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    ct = enc.update(data) + enc.finalize()
    return PREFIX.encode() + nonce + ct + enc.tag


def decrypt_bytes(data: bytes) -> bytes:
    if not data.startswith(PREFIX.encode()):
        return data
    key, _ = keys()
    raw = data[len(PREFIX) :]
    dec = Cipher(algorithms.SM4(key), modes.GCM(raw[:12], raw[-16:])).decryptor()
    try:
        return dec.update(raw[12:-16]) + dec.finalize()
    except InvalidTag as exc:
        raise DataKeyError("a protected payload does not decrypt with the configured data key") from exc


def lookup_hash(value: str) -> str:
    """The keyed hash stored in the index and used for exact search."""
    _, hkey = keys()
    return "h:" + _sm3(hkey, value.strip().upper().encode()).hex()[:40]


def is_phone(cp: Any) -> bool:
    return isinstance(cp, dict) and cp.get("system") in ("phone", "sms") and isinstance(cp.get("value"), str)


def protect(res: dict[str, Any]) -> dict[str, Any]:
    """A copy with identity numbers (top-level identifiers) and phone numbers encrypted."""
    out = res
    idents = res.get("identifier")
    if isinstance(idents, list) and any(
        isinstance(i, dict) and i.get("system") in PROTECTED_SYSTEMS and isinstance(i.get("value"), str)
        for i in idents
    ):
        out = dict(out)
        out["identifier"] = [
            {**i, "value": encrypt(i["value"])}
            if isinstance(i, dict)
            and i.get("system") in PROTECTED_SYSTEMS
            and isinstance(i.get("value"), str)
            else i
            for i in idents
        ]
    telecom = res.get("telecom")
    if isinstance(telecom, list) and any(is_phone(t) for t in telecom):
        out = dict(out)
        out["telecom"] = [{**t, "value": encrypt(t["value"])} if is_phone(t) else t for t in telecom]
    return out


def unprotect(res: dict[str, Any]) -> dict[str, Any]:
    for key in ("identifier", "telecom"):
        items = res.get(key)
        if isinstance(items, list):
            for item in items:
                if (
                    isinstance(item, dict)
                    and isinstance(item.get("value"), str)
                    and item["value"].startswith(PREFIX)
                ):
                    item["value"] = decrypt(item["value"])
    return res
