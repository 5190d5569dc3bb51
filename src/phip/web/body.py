"""Request bodies read within limits: a size cap enforced while the body streams in (413), and
JSON that is strict: no NaN/Infinity, no duplicate keys (an attacker's way of making two readers
see different records), and a bounded nesting depth. Every refusal is a clear 400/413."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request

from phip.web.outcome import ApiError

#: deeper than any FHIR resource nests (Questionnaire items, extensions on extensions)
MAX_JSON_DEPTH = 64


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes `limit` bytes (a declared
    Content-Length above it is refused before anything is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too-costly", f"the body is larger than {limit:,} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too-costly", f"the body is larger than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def depth(value: Any) -> int:
    """How deep objects and arrays nest (iteratively: a deep body cannot exhaust the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in node if isinstance(v, dict | list))
    return deepest


def parse_json(raw: bytes, what: str = "the body") -> Any:
    """Strict JSON, or ApiError 400 saying what is wrong."""
    try:
        value = orjson.loads(raw)  # fast, rejects NaN/Infinity and nesting past 1,024
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "structure", f"{what} is not valid JSON") from exc
    if depth(value) > MAX_JSON_DEPTH:
        raise ApiError(400, "structure", f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    if b'":' in raw or b'" :' in raw:  # objects with keys: check none repeats
        try:
            json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ApiError(400, "structure", f"{what} is not valid: {exc}") from exc
    return value
