"""Errors of the resource store; the FHIR API turns each into an OperationOutcome and status."""

from __future__ import annotations


class StoreError(Exception):
    status = 400
    code = "processing"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class NotFound(StoreError):
    status = 404
    code = "not-found"


class Gone(StoreError):
    status = 410
    code = "deleted"


class Conflict(StoreError):
    status = 409
    code = "conflict"


class PreconditionFailed(StoreError):
    status = 412
    code = "conflict"


class InvalidSearch(StoreError):
    status = 400
    code = "invalid"


class Forbidden(StoreError):
    """A write through a repository acting for a caller who may not write records."""

    status = 403
    code = "forbidden"
