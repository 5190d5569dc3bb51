"""Signed access tokens (JWT, HS256) with rotatable keys.

Tokens are signed with the current key (`PHIP_SECRET_KEY`) and carry its id (`kid`); keys listed in
`PHIP_PREVIOUS_SECRET_KEYS` still verify, so a key can be rotated without logging everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson

DEFAULT_TTL = 3600
MAX_TOKEN_LENGTH = 4096


class TokenError(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def issue(claims: dict[str, Any], key: str, ttl: int = DEFAULT_TTL) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(key)}
    body = {**claims, "jti": claims.get("jti") or secrets.token_urlsafe(24), "iat": now, "exp": now + ttl}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(body))}"
    sig = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def verify(token: str, keys: list[str]) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("malformed token")
    try:
        h64, b64, s64 = token.split(".")
        header = orjson.loads(_unb64(h64))
        body = orjson.loads(_unb64(b64))
        sig = _unb64(s64)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise TokenError("malformed token") from exc
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise TokenError("malformed token")
    if header.get("alg") != "HS256":
        raise TokenError("unsupported algorithm")
    key = next((k for k in keys if key_id(k) == header.get("kid")), None)
    if key is None:
        raise TokenError("unknown signing key")
    expected = hmac.new(key.encode(), f"{h64}.{b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, expected):
        raise TokenError("bad signature")
    exp = body.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool) or exp < time.time():
        raise TokenError("token expired")
    if not all(isinstance(body.get(k), str) for k in ("kind", "sub", "role", "jti")):
        raise TokenError("malformed token")
    out: dict[str, Any] = body
    return out
