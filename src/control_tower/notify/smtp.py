"""Email over SMTP (smtplib): a text part and an HTML alternative, STARTTLS, implicit TLS or
none, and a login when the channel names a user."""

from __future__ import annotations

import html
import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

from control_tower.catalog import channels as spec
from control_tower.models.notify import AttemptOutcome
from control_tower.notify.envelope import (
    DETAIL_LIMIT,
    Attempt,
    Delivery,
    cut,
    elapsed_ms,
    read_secret,
    text_with_links,
)
from control_tower.notify.service import Message


def _html_part(message: Message) -> str:
    if message.html is not None:
        return message.html
    paragraphs = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
        for p in message.text.split("\n\n")
        if p.strip()
    )
    links = "".join(
        f'<li><a href="{html.escape(link.href)}">{html.escape(link.text)}</a></li>'
        for link in message.links
    )
    return (
        f"<html><body><h2>{html.escape(message.title)}</h2>{paragraphs}"
        + (f"<ul>{links}</ul>" if links else "")
        + "</body></html>"
    )


def email_message(message: Message, delivery: Delivery, channel: spec.EmailChannel) -> EmailMessage:
    """The text part, and an HTML alternative (the message's own, or one made from its text)."""
    mail = EmailMessage()
    domain = channel.sender.rpartition("@")[2] or "control-tower.invalid"
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = format_datetime(delivery.at)
    mail["Message-ID"] = f"<{delivery.message_id}@{domain}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(text_with_links(message))
    mail.add_alternative(_html_part(message), subtype="html")
    return mail


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return cut(f"{code} {words}".strip(), DETAIL_LIMIT)


@dataclass
class SmtpEmail:
    channel: spec.EmailChannel
    env: Mapping[str, str]

    def send(self, message: Message, delivery: Delivery) -> Attempt:
        password = (
            read_secret(self.env, self.channel.password_env) if self.channel.password_env else None
        )
        mail = email_message(message, delivery, self.channel)
        started = time.perf_counter()
        try:
            with self._connect() as smtp:
                if self.channel.tls == "starttls":
                    smtp.starttls(context=self._tls_context())
                if self.channel.username:
                    smtp.login(self.channel.username, password or "")
                code, reply = self._transmit(smtp, mail)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(f"{who}: {_reply(*why)}" for who, why in exc.recipients.items())
            detail = cut(f"recipients refused: {refused}", DETAIL_LIMIT)
            return Attempt("failed", None, detail, elapsed_ms(started))
        except smtplib.SMTPResponseException as exc:
            # 5xx is a permanent refusal (bad auth, unknown sender); 4xx says try again later.
            outcome: AttemptOutcome = "failed" if exc.smtp_code >= 500 else "retry"
            reply = _reply(exc.smtp_code, exc.smtp_error)
            return Attempt(outcome, exc.smtp_code, reply, elapsed_ms(started))
        except smtplib.SMTPNotSupportedError as exc:
            return Attempt(
                "failed", None, f"server does not support it: {exc}", elapsed_ms(started)
            )
        except (OSError, smtplib.SMTPException) as exc:  # timeouts, refused connections, TLS
            return Attempt("retry", None, f"{type(exc).__name__}: {exc}", elapsed_ms(started))
        return Attempt("success", code, reply, elapsed_ms(started))

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.channel.ca_file)

    def _connect(self) -> smtplib.SMTP:
        c = self.channel
        if c.tls == "tls":
            return smtplib.SMTP_SSL(
                c.host, c.port, timeout=c.timeout_seconds, context=self._tls_context()
            )
        return smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds)

    def _transmit(self, smtp: smtplib.SMTP, mail: EmailMessage) -> tuple[int, str]:
        """MAIL, RCPT and DATA one by one (smtplib's sendmail drops the server's final reply,
        which the attempt records); some refused recipients are noted, all refused is an
        error."""
        smtp.ehlo_or_helo_if_needed()
        code, text = smtp.mail(self.channel.sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, text, self.channel.sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for recipient in self.channel.to:
            code, text = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, text)
        if len(refused) == len(self.channel.to):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        code, text = smtp.data(mail.as_bytes(policy=SMTP_POLICY))
        if code != 250:
            raise smtplib.SMTPDataError(code, text)
        reply = _reply(code, text)
        if refused:
            reply += "; refused: " + ", ".join(sorted(refused))
        return code, reply
