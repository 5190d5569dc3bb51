"""How the store keeps a resource: the bytes it stores (identity and phone numbers protected,
`meta` without the version stamp), the content hash that decides whether an update is a new
version, and the resource as served again from a stored row."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from phip.store.protect import protect, unprotect

Json = dict[str, Any]


def content_hash(res: Json) -> str:
    """The hash of a resource's content without `meta`: equal hashes, no new version."""
    body = {k: v for k, v in res.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def now_utc() -> datetime:
    """Now, in UTC (the store's clock)."""
    return datetime.now(UTC)


def instant(dt: datetime) -> str:
    """A FHIR instant in UTC with milliseconds, as `meta.lastUpdated` is served."""
    if dt.tzinfo is None:  # SQLite gives back naive datetimes; the store writes UTC
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def stored_bytes(res: Json) -> bytes:
    """What the store keeps of a resource: identity and phone numbers protected, and `meta`
    without `versionId`/`lastUpdated` (those live in columns and are added back on read, so a
    worker can serialise a record before the writer knows its version)."""
    body = protect(res)
    meta = body.get("meta")
    if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
        body = dict(body)
        rest = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if rest:
            body["meta"] = rest
        else:
            del body["meta"]
    return orjson.dumps(body)


_STAMP = ("versionId", "lastUpdated")


def from_stored(content: bytes, version: int, last_updated: datetime) -> Json:
    """The resource as served: decrypted, with `meta.versionId` and `meta.lastUpdated`."""
    res: Json = unprotect(orjson.loads(content))
    meta = res.get("meta")
    res["meta"] = {
        "versionId": str(version),
        "lastUpdated": instant(last_updated),
        **{k: v for k, v in (meta if isinstance(meta, dict) else {}).items() if k not in _STAMP},
    }
    return res
