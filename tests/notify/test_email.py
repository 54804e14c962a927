"""Email over SMTP to a real local server (aiosmtpd): text and HTML, login, STARTTLS, TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from control_tower.kit.clock import FrozenClock
from tests.notify.helpers import alert_message, attempts, catalog_with, queue, rows, worker
from tests.notify.receivers import SmtpServer, running_smtp_server, self_signed_cert


def email_channel(server: SmtpServer, **extra: Any) -> dict[str, Any]:
    return {
        "name": "ops-email",
        "kind": "email",
        "host": server.host,
        "port": server.port,
        "tls": "none",
        "from": "ct@swan.test",
        "to": ["ops@swan.test", "oncall@swan.test"],
        **extra,
    }


def test_a_message_arrives_as_text_and_html_after_a_login(
    engine: Engine, clock: FrozenClock
) -> None:
    with running_smtp_server({"ct": "s3cret"}) as server:
        catalog = catalog_with(email_channel(server, username="ct", password_env="SMTP_PASSWORD"))
        message = alert_message(html="<h1>Backend</h1><p>4 errors</p>")
        queue(engine, catalog, "ops-email", message, now=clock.now())
        [step] = worker(engine, catalog, clock, {"SMTP_PASSWORD": "s3cret"}).deliver_until_idle()
    assert step.action == "sent"
    [received] = server.state.messages
    assert received.login == "ct"
    assert received.mail_from == "ct@swan.test"
    assert received.rcpt_tos == ["ops@swan.test", "oncall@swan.test"]
    mail = received.message
    assert mail["Subject"] == "backend.fn.error: 4 high errors in 10 min"
    assert mail["To"] == "ops@swan.test, oncall@swan.test"
    assert mail["Message-ID"] == f"<ntf_{rows(engine)[0].id}@swan.test>"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    # What arrived over SMTP has CRLF line ends.
    assert text.get_content().replace("\r\n", "\n") == (
        "*generateInvoice* failed 4 times.\nRunbook below.\n\n"
        "Backend in CT: https://ct.swan.internal/ui/systems/backend\n"
        "Runbook: https://runbooks.swan.internal/backend-errors\n"
    )
    assert html.get_content().strip() == "<h1>Backend</h1><p>4 errors</p>"
    [attempt] = attempts(engine)
    assert (attempt.outcome, attempt.status_code) == ("success", 250)
    assert attempt.detail == "250 Message accepted for delivery"


def test_without_html_an_html_part_is_made_from_the_text(
    engine: Engine, clock: FrozenClock
) -> None:
    with running_smtp_server() as server:
        catalog = catalog_with(email_channel(server))
        queue(engine, catalog, "ops-email", alert_message(title="A <b> & c"), now=clock.now())
        worker(engine, catalog, clock, {}).deliver_until_idle()
    [received] = server.state.messages
    html = received.message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<h2>A &lt;b&gt; &amp; c</h2>" in content
    assert "<p>*generateInvoice* failed 4 times.<br>Runbook below.</p>" in content
    assert '<a href="https://runbooks.swan.internal/backend-errors">Runbook</a>' in content


def test_a_wrong_password_is_refused_for_good(engine: Engine, clock: FrozenClock) -> None:
    with running_smtp_server({"ct": "s3cret"}) as server:
        catalog = catalog_with(email_channel(server, username="ct", password_env="SMTP_PASSWORD"))
        queue(engine, catalog, "ops-email", alert_message(), now=clock.now())
        [step] = worker(engine, catalog, clock, {"SMTP_PASSWORD": "wrong"}).deliver_until_idle()
    assert step.action == "dead"
    assert server.state.messages == []
    [attempt] = attempts(engine)
    assert attempt.outcome == "failed"
    assert attempt.status_code == 535


def test_a_temporary_refusal_is_retried(engine: Engine, clock: FrozenClock) -> None:
    with running_smtp_server() as server:
        server.state.refuse_with = "451 4.3.0 try again later"
        catalog = catalog_with(email_channel(server))
        queue(engine, catalog, "ops-email", alert_message(), now=clock.now())
        [step] = worker(engine, catalog, clock, {}).deliver_until_idle()
    assert step.action == "retrying"
    [attempt] = attempts(engine)
    assert (attempt.outcome, attempt.status_code) == ("retry", 451)
    assert attempt.detail == "451 4.3.0 try again later"


def test_a_missing_password_variable_is_reported_at_delivery(
    engine: Engine, clock: FrozenClock
) -> None:
    with running_smtp_server({"ct": "s3cret"}) as server:
        catalog = catalog_with(
            email_channel(server, username="ct", password_env="CT_SMTP_PASSWORD")
        )
        queue(engine, catalog, "ops-email", alert_message(), now=clock.now())
        [step] = worker(engine, catalog, clock, {}).deliver_until_idle()
    assert step.action == "retrying"
    [row] = rows(engine)
    assert row.last_error == "environment variable CT_SMTP_PASSWORD is not set"


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_starttls_and_implicit_tls_with_a_login(
    engine: Engine, clock: FrozenClock, tmp_path: Path, tls: str
) -> None:
    cert = self_signed_cert(tmp_path)
    with running_smtp_server({"ct": "s3cret"}, tls=tls, cert=cert) as server:
        channel = email_channel(
            server, tls=tls, ca_file=str(cert[0]), username="ct", password_env="SMTP_PASSWORD"
        )
        catalog = catalog_with(channel)
        queue(engine, catalog, "ops-email", alert_message(), now=clock.now())
        [step] = worker(engine, catalog, clock, {"SMTP_PASSWORD": "s3cret"}).deliver_until_idle()
    assert step.action == "sent", attempts(engine)
    assert [m.login for m in server.state.messages] == ["ct"]


def test_a_certificate_ct_does_not_trust_is_not_sent_to(
    engine: Engine, clock: FrozenClock, tmp_path: Path
) -> None:
    cert = self_signed_cert(tmp_path)
    with running_smtp_server({"ct": "s3cret"}, tls="starttls", cert=cert) as server:
        catalog = catalog_with(
            email_channel(server, tls="starttls", username="ct", password_env="SMTP_PASSWORD")
        )
        queue(engine, catalog, "ops-email", alert_message(), now=clock.now())
        [step] = worker(engine, catalog, clock, {"SMTP_PASSWORD": "s3cret"}).deliver_until_idle()
    assert step.action == "retrying"
    assert server.state.messages == []
    assert "CERTIFICATE_VERIFY_FAILED" in (rows(engine)[0].last_error or "")
