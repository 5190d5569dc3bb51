"""OperationOutcome responses (FHIR errors) with the right HTTP status."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from phip.store.errors import StoreError

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
    else:
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
    def __init__(self, status: int, code: str, text: str, issues: list[tuple[str, str, str]] | None = None):
        super().__init__(text)
        self.status, self.code, self.text, self.issues = status, code, text, issues


async def store_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StoreError)
    return outcome(exc.status, exc.code, str(exc))


async def api_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return outcome(exc.status, exc.code, exc.text, exc.issues)
