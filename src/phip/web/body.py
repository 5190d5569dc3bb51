"""Request bodies read within limits: a size cap enforced while the body streams in (413), and
JSON that is strict: no NaN/Infinity, no duplicate keys (an attacker's way of making two readers
see different records), and a bounded nesting depth. Every refusal is a clear 400/413."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import Request

from phip.web.outcome import ApiError, outcome

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


#: methods whose bodies are read
WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StrictBodies:
    """Pure ASGI middleware for every request outside `/fhir` (whose handlers read their larger
    bodies with `read_body` and `parse_json` themselves): the body is capped at
    `max_api_body_bytes` (413 as soon as it passes), and a JSON body must be strict JSON (400:
    duplicate keys, NaN, too deep), before any handler or validator sees it. The body read is
    handed on unchanged."""

    def __init__(self, app: Any, settings: Any):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in WITH_BODY or path.startswith("/fhir"):
            await self.app(scope, receive, send)
            return
        limit = self.settings.max_api_body_bytes
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length", b"").decode("latin-1")
        try:
            if declared.isdigit() and int(declared) > limit:
                raise ApiError(413, "too-costly", f"the body is larger than {limit:,} bytes")
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "too-costly", f"the body is larger than {limit:,} bytes")
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            if b"json" in headers.get(b"content-type", b"").lower() and body.strip():
                parse_json(body)
        except ApiError as exc:
            await outcome(exc.status, exc.code, exc.text)(scope, receive, send)
            return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
