"""Callers, access control and audit: principals, the access policy and each request's access,
logins and sessions, tokens, password hashes, the keyed and chained audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phip.settings import Settings


def configure(settings: Settings) -> None:
    """Use these settings' audit checkpoint folder and interval in this process (an app made
    with its own settings)."""
    from phip.security import audit

    audit.configure_from(settings)
