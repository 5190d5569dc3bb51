"""Who is calling: the account a verified token names, with its role, facility, org-unit path
and (for residents) Patient records. What a principal may do and see is the access policy's
(`phip.security.access`), never decided here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    kind: str  # facility / staff / resident
    id: str
    role: str
    facility: str | None = None
    org_path: str | None = None  # for org-unit-scoped roles
    patient_ids: tuple[str, ...] = ()
    #: the id of the token's server-side session (logout ends it)
    session_id: str = ""

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"
