"""All settings in one place, read from `PHIP_` environment variables (and an optional `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "phip-demo-secret-change-me"


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
    secret_key: str = Field(DEMO_SECRET, description="Signing secret; must be changed outside demo mode.")
    previous_secret_keys: list[str] = Field(
        default_factory=list,
        description="Earlier signing secrets still accepted (key rotation), as a JSON list.",
    )
    token_ttl_seconds: int = Field(3600, description="Lifetime of access tokens.")
    data_key: str = Field(
        "", description="SM4 key (32 hex characters) for identity and phone numbers at rest; demo: derived."
    )
    demo: bool = Field(True, description="Demo mode: allows the default secret.")
    fhir_base: str = Field(
        "https://phip.health/fhir", description="Canonical base for the platform's code systems and profiles."
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'phip.db').as_posix()}"

    def resolved_lake_dir(self) -> Path:
        return self.lake_dir if self.lake_dir is not None else self.var_dir / "lake"

    def check_secrets(self) -> None:
        """Refuse to run a non-demo deployment with the default secret."""
        if not self.demo and self.secret_key == DEMO_SECRET:
            raise RuntimeError("PHIP_SECRET_KEY must be set to a non-default value when PHIP_DEMO is false")
        if not self.demo and not self.data_key:
            raise RuntimeError("PHIP_DATA_KEY must be set (32 hex characters) when PHIP_DEMO is false")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.check_secrets()
    return settings
