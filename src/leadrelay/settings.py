"""Every setting LeadRelay reads, declared once with its help text. Environment: LEADRELAY_<NAME>."""

from __future__ import annotations

from pydantic import Field, SecretStr
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
        description="Path of the playbook file. A file named on the command line or in LEADRELAY_PLAYBOOK must exist; "
                    "when none is named and playbook.yaml does not exist, the built-in starter playbook is used.",
    )
    source: str = Field("default",
                        description="Source name recorded on ingested activities (deduplication is per source).")
    batch_size: int = Field(2000, ge=1, le=50_000, description="Messages per transaction when ingesting a stream.")
    smtp_host: str = Field("localhost", description="SMTP server that notification emails are sent through.")
    smtp_port: int = Field(25, ge=1, le=65_535, description="Port of the SMTP server (25, 587 with STARTTLS, ...).")
    smtp_user: str | None = Field(None, description="SMTP user name; no login when unset.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (used with smtp_user).")
    smtp_starttls: bool = Field(False,
                                description="Upgrade the SMTP connection with STARTTLS before logging in and sending.")
    host: str = Field("127.0.0.1", description="Address `leadrelay serve` listens on (0.0.0.0 for every interface).")
    port: int = Field(8000, ge=1, le=65535, description="Port `leadrelay serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Server processes `leadrelay serve` runs (PostgreSQL scales with "
                         "them; SQLite has one writer whatever the number).")
    private_webhooks: bool = Field(False, description="Let webhooks and Slack URLs reach private, loopback and "
                                   "link-local addresses (an internal CRM, a receiver on this host). Off, such "
                                   "targets are refused, after DNS resolution too.")
    max_inflight: int = Field(64, ge=1, le=10_000, description="Requests one server process works on at once; more "
                              "are answered 429 with Retry-After, so clients back off instead of piling up.")
    retain_raw_days: int | None = Field(None, ge=1, le=36_500, description="Days an activity keeps its raw context "
                                        "(IP address, user agent, device, locale, ...); the worker trims it after. "
                                        "Properties, traits and what the playbook's rules read are kept, so rescore "
                                        "gives the same numbers. Unset: kept forever.")
    retain_rejections_days: int | None = Field(None, ge=1, le=36_500, description="Days a rejected message is kept "
                                               "(payload and all); the worker deletes it after. Unset: kept forever.")
