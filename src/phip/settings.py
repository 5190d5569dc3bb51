"""All settings in one place, read from `PHIP_` environment variables (and an optional `.env`)."""

from __future__ import annotations

import json
import os
import secrets
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: where demo mode keeps the secrets it generated at its first run (inside `var_dir`)
DEMO_SECRETS_FILE = "demo-secrets.json"
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """The settings do not allow the platform to run (a secret is missing or too weak)."""


class Settings(BaseSettings):
    """Platform settings. Every field is documented in docs/settings.md (a test checks this)."""

    model_config = SettingsConfigDict(env_prefix="PHIP_", env_file=".env", extra="ignore")

    var_dir: Path = Field(Path("var"), description="Working directory for the default database and lake.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the operational database; default: SQLite file var/phip.db (WAL).",
    )
    lake_dir: Path | None = Field(None, description="Folder of the analytical lake; default var/lake.")
    engine: Literal["duckdb", "spark"] = Field("duckdb", description="Analytical engine.")
    spark_master: str = Field("local[2]", description="Spark master URL (local mode by default).")
    spark_driver_memory: str = Field("4g", description="Memory of the Spark driver.")
    province: str = Field("620000", description="GB/T 2260 code of the province this deployment serves.")
    locale: Literal["zh-CN", "en"] = Field("zh-CN", description="Default language of user-facing text.")
    as_of: date | None = Field(
        None,
        description=(
            "The day reporting deadlines and relative periods are judged on (YYYY-MM-DD); default: "
            "today. Set it only for a fixed data set, as the demo does for its synthetic year."
        ),
    )
    secret_key: str = Field(
        "", description="Signing secret (at least 32 characters); required outside demo mode."
    )
    previous_secret_keys: list[str] = Field(
        default_factory=list,
        description="Earlier signing secrets still accepted (key rotation), as a JSON list.",
    )
    token_ttl_seconds: int = Field(3600, description="Lifetime of access tokens.")
    data_key: str = Field(
        "", description="SM4 key (32 hex characters) for identity and phone numbers at rest; required."
    )
    demo: bool = Field(
        False, description="Demo mode: missing secrets are generated at first run and kept in var_dir."
    )
    public_base_url: str = Field(
        "", description="Public URL of the platform for links in responses; default: the listening address."
    )
    tls_proxy: bool = Field(
        False, description="Served behind a TLS-terminating proxy: Secure cookies and HSTS."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies in front of the platform, whose X-Forwarded-For "
        "is believed when login throttling needs the client's address.",
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, description="Largest FHIR request body (a resource or a Bundle) in bytes."
    )
    max_api_body_bytes: int = Field(
        1024 * 1024, description="Largest request body outside /fhir (logins, the API, console forms)."
    )
    max_import_bytes: int = Field(512 * 1024 * 1024, description="Largest `$import` NDJSON body in bytes.")
    bulk_retention_hours: int = Field(
        24, description="Hours the files of a finished `$export` are kept before they are deleted."
    )
    max_bundle_entries: int = Field(1000, description="Most entries in one batch or transaction Bundle.")
    background_interval_seconds: float = Field(
        5.0,
        gt=0,
        description="How often the server delivers pending outbox events and fires due workflow timers.",
    )
    fhir_base: str = Field(
        "https://phip.health/fhir", description="Canonical base for the platform's code systems and profiles."
    )
    audit_checkpoint_dir: Path | None = Field(
        None, description="Folder of the audit log's MACed checkpoints; default var_dir/audit-checkpoints."
    )
    audit_checkpoint_every: int = Field(
        1000, description="Append an audit checkpoint every this many entries (0: on demand only)."
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'phip.db').as_posix()}"

    def resolved_lake_dir(self) -> Path:
        return self.lake_dir if self.lake_dir is not None else self.var_dir / "lake"

    def check_secrets(self) -> None:
        """Refuse to run without a signing secret and a data key. In demo mode the missing ones
        are generated at the first run and kept (readable by the owner only) in `var_dir`, so a
        demo never runs on a secret anyone else knows."""
        if self.demo and (not self.secret_key or not self.data_key):
            generated = demo_secrets(self.var_dir)
            self.secret_key = self.secret_key or generated["secret_key"]
            self.data_key = self.data_key or generated["data_key"]
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"PHIP_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} characters "
                "(or run in demo mode with PHIP_DEMO=true)"
            )
        try:
            key = bytes.fromhex(self.data_key)
        except ValueError:
            key = b""
        if len(key) != 16:
            raise SettingsError("PHIP_DATA_KEY must be set: 32 hex characters (a random 128-bit SM4 key)")
        if any(len(k) < MIN_SECRET_LENGTH for k in self.previous_secret_keys):
            raise SettingsError(f"every PHIP_PREVIOUS_SECRET_KEYS entry needs {MIN_SECRET_LENGTH} characters")


def demo_secrets(var_dir: Path) -> dict[str, str]:
    """The demo's own signing secret, data key and login password: generated at the first run
    in `var_dir`, read back afterwards (so the data stays readable across demo commands)."""
    path = var_dir / DEMO_SECRETS_FILE
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if all(isinstance(stored.get(k), str) for k in ("secret_key", "data_key", "password")):
            return {k: stored[k] for k in ("secret_key", "data_key", "password")}
    var_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "secret_key": secrets.token_urlsafe(48),
        "data_key": secrets.token_hex(16),
        "password": secrets.token_urlsafe(12),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(values, f)
    return values


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.check_secrets()
    return settings
