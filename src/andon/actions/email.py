"""``email.send``: a plain-text notification over SMTP, through a named ``smtp`` connection
(server, sender, STARTTLS, login). The Message-ID derives from the idempotency key, so a
message sent again by a retry or after a worker crash is recognisably the same message."""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from andon import egress
from andon.actions.registry import ActionCall, ActionRegistry
from andon.core.json import JsonValue
from andon.errors import ActionError

DEFAULT_TIMEOUT_S = 30.0
SMTP = "smtp"


def send_email(call: ActionCall, registry: ActionRegistry) -> JsonValue:
    """Input: ``connection``, ``to`` (an address or a list), ``subject``, ``body``.

    Connection failures, timeouts and 4xx answers are retried by the step's policy; a
    refused login, a missing STARTTLS and 5xx answers (e.g. a refused recipient) are
    permanent.
    """
    to = _recipients(call.input.get("to"))
    subject = _line(call.input.get("subject"), "subject")
    body = call.input.get("body")
    if not isinstance(body, str):
        raise ActionError("email.send needs a text 'body'", permanent=True)
    connection = registry.connection(call, call.input.get("connection"), SMTP)
    settings = connection.settings
    domain = str(settings["from"]).rpartition("@")[2]
    digest = hashlib.sha256(call.idempotency_key.encode()).hexdigest()[:32]
    message = EmailMessage()
    message["From"] = str(settings["from"])
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = f"<andon.{digest}@{domain}>"
    message["X-Andon-Run"] = call.run_id
    message.set_content(body)
    host, port = str(settings["host"]), int(str(settings["port"]))
    timeout = call.timeout_s or _seconds(settings.get("timeout_s")) or DEFAULT_TIMEOUT_S
    where = f"SMTP {host}:{port}"
    try:
        policy = registry.egress_client(call).policy
        with _CheckedSMTP(policy, host, port, timeout=timeout) as smtp:
            smtp.ehlo()
            if settings.get("starttls", True):
                if not smtp.has_extn("starttls"):
                    raise ActionError(f"{where} offers no STARTTLS", permanent=True)
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if "username" in settings:
                secret = connection.secret.reveal() if connection.secret else ""
                smtp.login(str(settings["username"]), secret)
            refused = smtp.send_message(message)
    except egress.EgressDenied as exc:
        raise ActionError(f"{where} refused: {exc}", permanent=True) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise _refused(where, exc.recipients, partial=False) from None
    except smtplib.SMTPResponseException as exc:
        # Login refused (535), sender or data refused: the server's code decides. Its text
        # is left out: a server may echo what it was sent.
        what = "refused the login" if exc.smtp_code in (534, 535) else "answered"
        permanent = exc.smtp_code >= 500
        raise ActionError(f"{where} {what} {exc.smtp_code}", permanent=permanent) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise ActionError(f"{where}: {exc}", permanent=True) from None
    except ssl.SSLError as exc:
        raise ActionError(f"{where}: TLS failed: {exc.reason}", permanent=True) from None
    except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timed out, hung up
        raise ActionError(f"{where} failed: {type(exc).__name__}: {exc}") from None
    if refused:
        raise _refused(where, refused, partial=True)
    return {"message_id": str(message["Message-ID"]), "to": list(to)}


def register(registry: ActionRegistry) -> None:
    registry.register("email.send", lambda call: send_email(call, registry))


def _refused(where: str, refused: dict[str, tuple[int, bytes]], *, partial: bool) -> ActionError:
    """Recipients the server refused: permanent when a refusal is (5xx), or when the others
    took the message (a retry would send it to them twice)."""
    codes = ", ".join(f"{address} ({code})" for address, (code, _) in sorted(refused.items()))
    permanent = partial or any(code >= 500 for code, _ in refused.values())
    return ActionError(f"{where} refused recipient(s) {codes}", permanent=permanent)


def _recipients(value: JsonValue) -> list[str]:
    given = [value] if isinstance(value, str) else value
    if not isinstance(given, list) or not given:
        raise ActionError("email.send needs 'to': an address or a list of them", permanent=True)
    addresses = [_line(a, "to") for a in given]
    for address in addresses:
        if "@" not in address or "," in address:
            raise ActionError(f"'to': {address!r} is not an email address", permanent=True)
    return addresses


def _line(value: JsonValue, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n"):
        raise ActionError(f"email.send needs '{what}': one line of text", permanent=True)
    return value.strip()


def _seconds(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class _CheckedSMTP(smtplib.SMTP):
    """SMTP to an address egress checked; STARTTLS still verifies the server's name."""

    def __init__(self, policy: egress.Policy, host: str, port: int, timeout: float) -> None:
        self.policy = policy  # the run's tenant's: set before connecting
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return egress.connect(host, port, timeout, self.policy)
