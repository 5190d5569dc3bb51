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
    """Pure ASGI middleware for every request with a body: the body is capped (413 as soon as it
    passes) at `max_import_bytes` for `$import`, `max_body_bytes` elsewhere under `/fhir`, and
    `max_api_body_bytes` for everything else, where a JSON body must also be strict JSON (400:
    duplicate keys, NaN, too deep) before any handler or validator sees it (FHIR handlers parse
    theirs strictly themselves). The body read is handed on unchanged."""

    def __init__(self, app: Any, settings: Any):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in WITH_BODY:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):  # served under a prefix (`--root-path`)
            path = path[len(root) :]
        fhir = path == "/fhir" or path.startswith("/fhir/")
        if path.endswith("/$import"):
            limit = self.settings.max_import_bytes
        else:
            limit = self.settings.max_body_bytes if fhir else self.settings.max_api_body_bytes
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            too_big = ApiError(413, "too-costly", f"the body is larger than {limit:,} bytes")
            await outcome(too_big.status, too_big.code, too_big.text)(scope, receive, send)
            return
        if fhir:  # streamed on to the handler (an $import body goes to a file), counted on the way
            await self.app(scope, _capped(receive, limit), send)
            return
        try:
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
            if not fhir and b"json" in headers.get(b"content-type", b"").lower() and body.strip():
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


def _capped(receive: Any, limit: int) -> Any:
    """`receive` that refuses (413, through the app's error handler) a body past `limit` bytes."""
    size = 0

    async def counted() -> Any:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise ApiError(413, "too-costly", f"the body is larger than {limit:,} bytes")
        return message

    return counted
