"""Email over SMTP (smtplib): a subject and a plain-text body per notice and recipient.

The SMTP server comes from the settings (LEADRELAY_SMTP_HOST, _PORT, _USER, _PASSWORD,
_STARTTLS). One connection serves a whole sweep. A 5xx answer is permanent (the message
goes to the dead letters at once); no answer or a 4xx is retried like any failure.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from leadrelay.delivery import text
from leadrelay.delivery.webhook import SendResult
from leadrelay.settings import Settings

SMTP_TIMEOUT_SECONDS = 10.0


def subject(payload: dict[str, Any], lead_id: Any = None) -> str:
    """`[LeadRelay] SLA breached: jane@acme.io (Acme)`."""
    event_type = str(payload.get("type", ""))
    label = text.lead_label(payload.get("data") or {}, lead_id)
    return f"[LeadRelay] {text.title(event_type)}" + (f": {label}" if label else "")


def body(payload: dict[str, Any], message_id: str, lead_id: Any = None) -> str:
    data = payload.get("data") or {}
    event_type = str(payload.get("type", ""))
    when = text.parse_time(payload.get("timestamp"))
    lines = [text.summary(payload, lead_id), ""]
    lines.append(f"What:  {text.title(event_type)} ({event_type})")
    if label := text.lead_label(data, lead_id):
        lines.append(f"Lead:  {label}")
    if when is not None:
        lines.append(f"When:  {when.strftime('%Y-%m-%d %H:%M:%S UTC')}")
    if who := text.person(data.get("actor")):
        lines.append(f"Who:   {who}")
    if data.get("reason"):
        lines.append(f"Why:   {data['reason']}")
    flat = list(_flatten(data))
    if flat:
        lines += ["", "Details:"] + [f"  {key}: {value}" for key, value in flat]
    lines += ["", f"-- LeadRelay · message {message_id}"]
    return "\n".join(lines) + "\n"


def build(sender: str, to: str, payload: dict[str, Any], message_id: str, lead_id: Any = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject(payload, lead_id)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=message_id, domain="leadrelay")
    msg["X-LeadRelay-Message-Id"] = message_id  # stable across retries, like webhook-id
    msg["X-LeadRelay-Event"] = str(payload.get("type", ""))
    msg.set_content(body(payload, message_id, lead_id))
    return msg


class SmtpSender:
    """One SMTP connection, opened on first use and reused until `close()`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_user, password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> SendResult:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()), (550, b"refused"))
            return self._answer(code, reason)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            return SendResult(ok=False, error=f"SMTP server disconnected: {exc}", transport=True)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPConnectError) as exc:
            self._drop()  # a settings problem, not this message's: retry once it is fixed
            return SendResult(ok=False, status=exc.smtp_code, transport=True,
                              error=f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}")
        except smtplib.SMTPResponseException as exc:  # sender or data refused
            if exc.smtp_code == 421:
                self._drop()
            return self._answer(exc.smtp_code, exc.smtp_error)
        except (TimeoutError, socket.timeout):
            self._drop()
            return SendResult(ok=False, error=f"SMTP server timed out after {SMTP_TIMEOUT_SECONDS:g}s", transport=True)
        except (OSError, smtplib.SMTPException) as exc:  # refused connection, unknown host, TLS...
            self._drop()
            where = f"{self.settings.smtp_host}:{self.settings.smtp_port}"
            return SendResult(ok=False, error=f"cannot send through {where}: {exc}", transport=True)
        if refused:
            code, reason = next(iter(refused.values()))
            return self._answer(code, reason)
        return SendResult(ok=True, status=250)

    @staticmethod
    def _answer(code: int, reason: bytes | str) -> SendResult:
        return SendResult(ok=False, status=code, error=f"SMTP {code}: {_text(reason)}", permanent=500 <= code < 600)

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _text(reason: bytes | str) -> str:
    reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    return " ".join(reason.split())


def _flatten(data: Any, prefix: str = ""):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}{key}.")
    elif isinstance(data, list):
        yield prefix.rstrip("."), ", ".join(map(str, data))
    else:
        yield prefix.rstrip("."), data
