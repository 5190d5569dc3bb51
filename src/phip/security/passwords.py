"""Password and client-secret hashing (argon2id)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
#: checked against when the account does not exist, so an unknown name costs the same time as a
#: wrong password (the secret hashed is random and thrown away)
DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(32))


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(stored: str, secret: str) -> bool:
    try:
        return _hasher.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False
