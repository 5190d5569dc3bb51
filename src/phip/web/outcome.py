"""OperationOutcome responses (FHIR errors) with the right HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from phip.security.access import Denied
from phip.store.errors import StoreError
from phip.web.headers import COMMON, CSP
from phip.workflow import IllegalTransition

FHIR_JSON = "application/fhir+json"


def outcome(
    status: int, code: str, text: str, issues: list[tuple[str, str, str]] | None = None
) -> JSONResponse:
    items: list[dict[str, Any]] = []
    if issues:
        for c, path, detail in issues:
            items.append(
                {
                    "severity": "error",
                    "code": _fhir_code(c),
                    "details": {"coding": [{"code": c}], "text": detail},
                    "expression": [path],
                }
            )
    if not items:
        items.append(
            {"severity": "error" if status >= 400 else "information", "code": code, "diagnostics": text}
        )
    body = {"resourceType": "OperationOutcome", "issue": items}
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def _fhir_code(reason: str) -> str:
    if reason.startswith("structure:"):
        return "structure"
    if reason.startswith("reference:"):
        return "not-found"
    if reason == "profile:required":
        return "required"
    if reason.startswith("profile:invalid-code"):
        return "code-invalid"
    return "invalid"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        text: str,
        issues: list[tuple[str, str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(text)
        self.status, self.code, self.text, self.issues = status, code, text, issues
        self.headers = headers or {}


async def store_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    return outcome(exc.status, exc.code, str(exc))


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = outcome(exc.status, exc.code, exc.text, exc.issues)
    response.headers.update(exc.headers)
    return response


log = logging.getLogger("phip.web")
#: HTTP statuses and the FHIR issue codes that go with them
_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


async def validation_error_handler(_request: Request, exc: Exception) -> Response:
    """A parameter or body that does not fit (a number too large, a string where an object
    goes): 400 naming where, never echoing the value (it may be personal data)."""
    assert isinstance(exc, RequestValidationError)
    issues = []
    for err in exc.errors()[:20]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        issues.append(("invalid", where, str(err.get("msg", "invalid value"))[:200]))
    return outcome(400, "invalid", "the request is not valid", issues)


async def http_error_handler(_request: Request, exc: Exception) -> Response:
    """Unknown routes and methods as OperationOutcomes, like every other error."""
    assert isinstance(exc, HTTPException)
    text = str(exc.detail) if exc.detail else "error"
    response = outcome(exc.status_code, _CODES.get(exc.status_code, "exception"), text)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def lake_error_handler(_request: Request, _exc: Exception) -> Response:
    """Results asked for before the analytical lake is built: 404, without the server's paths."""
    return outcome(404, "not-found", "no results yet: the analytical lake has not been built")


async def database_data_handler(_request: Request, exc: Exception) -> Response:
    """A value the database cannot hold (a NUL byte, a number out of range): the request's
    fault, so 400, without the value."""
    return outcome(400, "invalid", "a value in the request cannot be stored or searched (e.g. a NUL byte)")


async def database_busy_handler(request: Request, exc: Exception) -> Response:
    """The database is busy (SQLite locked by a long write, a PostgreSQL lock or statement
    timeout): 503 with Retry-After, so a client tries again instead of seeing a failure."""
    text = str(getattr(exc, "orig", exc)).lower()
    if any(w in text for w in ("locked", "timeout", "could not obtain lock", "deadlock")):
        response = outcome(503, "transient", "the database is busy; try again shortly")
        response.headers["Retry-After"] = "2"
        return response
    return await unexpected_error_handler(request, exc)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Anything else is the platform's fault: 500 with an OperationOutcome, no stack trace and
    no detail sent; logged with its type and route only (the message may carry personal data).
    Starlette sends this answer from outside the app's middleware, so it carries the security
    headers itself; and it re-raises the exception to the server, whose log record
    `WithheldTracebacks` strips."""
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    response = outcome(500, "exception", "internal error; the request was not completed")
    for name, value in (*COMMON, (b"content-security-policy", CSP.encode())):
        response.headers[name.decode()] = value.decode()
    return response


class WithheldTracebacks(logging.Filter):
    """The server logs an exception that escaped a request with its traceback and message, which
    may hold personal data (a value being parsed, a name in a query). This filter, on the
    server's loggers, keeps the exception's type and drops the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"unexpected {record.exc_info[0].__name__} (message and traceback withheld)"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def withhold_tracebacks() -> None:
    """Install `WithheldTracebacks` on the loggers the ASGI server reports failures on (once)."""
    for name in ("uvicorn.error", "uvicorn", "starlette", "fastapi"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithheldTracebacks) for f in logger.filters):
            logger.addFilter(WithheldTracebacks())


async def illegal_transition_handler(_request: Request, exc: Exception) -> Response:
    """A workflow transition the case's state does not allow: 409, one error issue, and one
    informational issue per transition that is allowed from the state."""
    assert isinstance(exc, IllegalTransition)
    issues: list[dict[str, Any]] = [{"severity": "error", "code": "business-rule", "diagnostics": str(exc)}]
    issues += [
        {
            "severity": "information",
            "code": "informational",
            "details": {"text": name},
            "expression": ["allowed"],
        }
        for name in exc.allowed
    ]
    body = {"resourceType": "OperationOutcome", "issue": issues}
    return JSONResponse(body, status_code=409, media_type=FHIR_JSON)


async def denied_handler(_request: Request, exc: Exception) -> Response:
    """The access policy said no (the denial is already in the audit log)."""
    assert isinstance(exc, Denied)
    return outcome(403, "forbidden", exc.detail)
