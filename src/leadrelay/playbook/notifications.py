"""The playbook's `notifications:` section: where notices go (webhooks, Slack, email).

```yaml
notifications:
  webhooks:
    - id: crm
      url: https://crm.example.com/hooks/leadrelay
      secret_env: LEADRELAY_WEBHOOK_SECRET_CRM   # env var holding whsec_...; never the secret inline
      events: [lead.assigned, sla.breached]        # default: every event type
      timeout_seconds: 5
    - id: erp                                      # mid-rotation: signed with both secrets
      url: https://erp.example.com/hooks
      secret_env: LEADRELAY_WEBHOOK_SECRET_ERP_2027
      previous_secret_env: LEADRELAY_WEBHOOK_SECRET_ERP
  slack:
    - id: sales
      url_env: LEADRELAY_SLACK_SALES_URL          # or `url:` directly
      events: [lead.handoff_opened, sla.breached]
  email:
    from: leadrelay@acme.io
    groups: {marketing: [marketing-ops@acme.io]}  # named lists any rule may name
    events:                                       # event type -> roles (owner, manager, team), groups or addresses
      lead.assigned: [owner]
      sla.breached: [owner, manager]
```

Secrets and Slack URLs (which are secrets too) are read from the environment when a
message is sent, so the playbook can live in version control. A webhook whose secret is
being rotated names the retiring secret's variable too (`previous_secret_env`) until every
receiver has the new one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from leadrelay.delivery.notices import EVENT_TYPES, RECIPIENT_ROLES, Notice
from leadrelay.playbook.schema_base import RuleId, Strict

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SECRET_PREFIX = "whsec_"  # delivery.webhook.SECRET_PREFIX; not imported, as that module brings in httpx


def _event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"unknown event type {value!r}; allowed: {', '.join(EVENT_TYPES)}")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value.strip()


def is_email(value: str) -> bool:
    return len(value) <= 320 and bool(_EMAIL.match(value))


def _email(value: str) -> str:
    value = value.strip()
    if not is_email(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _from_address(value: str) -> str:
    """A plain address or `Name <address>`."""
    _, address = parseaddr(value)
    if not address or not is_email(address):
        raise ValueError(f"{value!r} is not an email address "
                         "(use leadrelay@acme.io or 'LeadRelay <leadrelay@acme.io>')")
    return value.strip()


def _recipient(value: str) -> str:
    value = value.strip()
    if value in RECIPIENT_ROLES or is_email(value) or GROUP_NAME.fullmatch(value):
        return value  # a group's name is checked against the email section's groups (`EmailChannel`, crosscheck)
    raise ValueError(f"{value!r} is neither a role ({', '.join(RECIPIENT_ROLES)}), a group of the email section "
                     "nor an email address")


GROUP_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _address(value: str) -> str:
    value = value.strip()
    if not is_email(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


ChannelId = RuleId
EventType = Annotated[str, AfterValidator(_event_type)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Recipient = Annotated[str, AfterValidator(_recipient)]
Address = Annotated[str, AfterValidator(_address)]
EnvName = Annotated[str, Field(pattern=_ENV_NAME, max_length=200)]


class _Channel(Strict):
    id: ChannelId
    events: list[EventType] | None = Field(
        None, description="Event types this channel receives; every event type when omitted.")

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events


class WebhookChannel(_Channel):
    """An HTTP endpoint that receives signed JSON (Standard Webhooks)."""

    url: HttpUrl
    secret_env: EnvName = Field(description="Environment variable holding the signing secret (whsec_...).")
    previous_secret_env: EnvName | None = Field(
        None, description="While the secret is rotated: the environment variable holding the secret being retired. "
                          "Messages carry a signature by each secret until this is removed.")
    timeout_seconds: float = Field(5, gt=0, le=30, description="Seconds to wait for the endpoint to answer.")

    @field_validator("secret_env", "previous_secret_env")
    @classmethod
    def _a_name_not_a_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A pasted secret can match the name pattern; it must not reach the playbook's versions, exports and the
        # "is not set" errors. The message leaves the value out.
        if value is not None and value.lower().startswith(_SECRET_PREFIX):
            raise ValueError("this looks like a webhook secret (whsec_...), not the name of an environment "
                             "variable: put the secret in the environment and name the variable here")
        if info.field_name == "previous_secret_env" and value is not None and value == info.data.get("secret_env"):
            raise ValueError(f"{value} is also the secret_env: a rotation puts the new secret in a variable of its "
                             "own and keeps the old one here until every receiver has the new one")
        return value

    @property
    def secret_envs(self) -> tuple[str, ...]:
        """The variables of the signing secrets: the current one, then the one being retired (if any)."""
        return (self.secret_env,) if self.previous_secret_env is None else (self.secret_env, self.previous_secret_env)

    def secrets(self, environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
        """(variable, its value or None when unset) for each signing secret, the current one first."""
        source = os.environ if environ is None else environ
        return [(name, source.get(name) or None) for name in self.secret_envs]


class SlackChannel(_Channel):
    """A Slack incoming webhook."""

    url: HttpUrl | None = Field(None, description="The incoming-webhook URL (prefer url_env: it is a secret).")
    url_env: EnvName | None = Field(None, description="Environment variable holding the incoming-webhook URL.")
    timeout_seconds: float = Field(5, gt=0, le=30, description="Seconds to wait for Slack to answer.")

    @model_validator(mode="after")
    def _one_url(self) -> SlackChannel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        return self

    def resolve_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        if self.url is not None:
            return self.url
        return (os.environ if environ is None else environ).get(self.url_env or "") or None


class EmailChannel(Strict):
    """Email through the SMTP server in the settings (LEADRELAY_SMTP_*)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              allow_inf_nan=False)

    from_: str = Field(alias="from", description="Sender address.")
    groups: dict[RuleId, list[Address]] = Field(
        default_factory=dict, description="Named lists of addresses any rule may name (marketing: [...]).")
    events: dict[EventType, list[Recipient]] = Field(
        default_factory=dict, description="Event type -> roles (owner, manager, team), groups or email addresses.")

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _from_address(value)

    @model_validator(mode="after")
    def _known_groups(self) -> EmailChannel:
        for name in self.groups:
            if name in RECIPIENT_ROLES:  # the role would win: the group's addresses would never get mail
                raise ValueError(f"groups.{name}: a group may not be named like a role ({', '.join(RECIPIENT_ROLES)})")
        for event, recipients in self.events.items():
            for who in recipients:
                self.check_group(who, f"events.{event}")
        return self

    def check_group(self, who: str, where: str) -> None:
        if who not in RECIPIENT_ROLES and not is_email(who) and who not in self.groups:
            raise ValueError(f"{where}: no group '{who}' (groups: {', '.join(self.groups) or 'none'}; roles: "
                             f"{', '.join(RECIPIENT_ROLES)})")

    def addresses(self, notice: Notice) -> list[str]:
        """Who gets an email about `notice`: roles resolved through its recipients, groups through `groups`,
        duplicates dropped."""
        found: list[str] = []
        for who in self.events.get(notice.type, []) if notice.emails is None else notice.emails:
            named = notice.recipients.get(who) if who in RECIPIENT_ROLES else self.groups.get(who, who)
            for address in (named,) if isinstance(named, str) or named is None else named:
                if address and address.lower() not in {a.lower() for a in found}:
                    found.append(address)
        return found


class Notifications(Strict):
    """Where notices go. Empty by default: nothing is sent."""

    webhooks: list[WebhookChannel] = Field(default_factory=list)
    slack: list[SlackChannel] = Field(default_factory=list)
    email: EmailChannel | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> Notifications:
        seen: set[str] = set()
        for channel in [*self.webhooks, *self.slack]:
            if channel.id in seen:
                raise ValueError(f"channel id '{channel.id}' is used twice (webhook and Slack ids share one namespace)")
            seen.add(channel.id)
        return self

    def webhook(self, channel_id: str) -> WebhookChannel | None:
        return next((w for w in self.webhooks if w.id == channel_id), None)

    def slack_channel(self, channel_id: str) -> SlackChannel | None:
        return next((s for s in self.slack if s.id == channel_id), None)
