"""Every setting LeadRelay reads, declared once with its help text. Environment: LEADRELAY_<NAME>."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADRELAY_", extra="ignore")

    database_url: str = Field(
        "sqlite:///leadrelay.db",
        description="Where LeadRelay keeps its data: a SQLite file (default) or a PostgreSQL URL "
        "such as postgresql://user@host:5432/leadrelay.",
    )
    playbook: str = Field(
        "playbook.yaml",
        description="Path of the playbook file. When the file does not exist, the built-in starter playbook is used.",
    )
    source: str = Field("default", description="Source name recorded on ingested activities (deduplication is per source).")
    batch_size: int = Field(2000, ge=1, le=50_000, description="Messages per transaction when ingesting a stream.")
