"""The six dashboards of the spec, as pages: each shows its panels (charts as inline SVG, no
script), refreshes itself keeping its filters, and the event stream filters and pages."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from control_tower.auth.roles import Role
from control_tower.dashboards.spec import load_spec
from control_tower.kit.clock import FrozenClock
from control_tower.routing.router import Router
from tests.helpers import Emit, Staff
from tests.web.test_ui import sign_in

GBP = "GBP"


def seed(emit: Emit, router: Router, clock: FrozenClock) -> None:
    """A little of everything, dated from the clock: heartbeats, errors, invoices, CI."""
    now = clock.now()
    for system in ("backend", "portal", "finance", "website"):
        emit(
            "system.heartbeat",
            system,
            {"system_id": system},
            occurred_at=now - timedelta(minutes=1),
        )
    for hours, fn in ((1, "generateInvoice"), (2, "generateInvoice"), (30, "syncXero")):
        emit("backend.fn.error", "backend", {"fn_name": fn, "severity": "high"},
             occurred_at=now - timedelta(hours=hours))  # fmt: skip
    for day, (invoice, amount, currency) in enumerate(
        (("INV-1", 125000, GBP), ("INV-2", 99, GBP), ("INV-3", 5000, "EUR"))
    ):
        total = {"amount_minor": amount, "currency": currency}
        emit("finance.invoice.generated", "finance",
             {"invoice_id": invoice, "period": "p", "total": total,
              "vat": {"amount_minor": 0, "currency": currency}},
             occurred_at=now - timedelta(days=day + 1))  # fmt: skip
    emit("finance.payment.webhook", "finance",
         {"invoice_id": "INV-1", "status_before": "sent", "status_after": "paid"},
         occurred_at=now - timedelta(hours=3))  # fmt: skip
    emit("ci.workflow.failed", "github",
         {"repo": "swan/portal", "run_id": 42, "job": "tests",
          "url": "https://github.com/swan/portal/actions/runs/42"},
         occurred_at=now - timedelta(hours=5))  # fmt: skip
    router.drain()


def test_every_dashboard_shows_its_panels(
    client: TestClient, staff: Staff, emit: Emit, router: Router, clock: FrozenClock
) -> None:
    seed(emit, router, clock)
    sign_in(client, staff.tokens[Role.maintainer].token)
    for dashboard in load_spec().dashboards:
        page = client.get(dashboard.path)
        assert page.status_code == 200, (dashboard.id, page.text[:500])
        html = page.text
        for panel in dashboard.panels:
            assert f'data-panel="{panel.id}"' in html, (dashboard.id, panel.id)
        assert f'<meta http-equiv="refresh" content="{dashboard.refresh_seconds}">' in html
        assert "<script" not in html, dashboard.id
        assert " style=" not in html, dashboard.id
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
    finance = client.get("/ui/finance").text
    assert "1,250.99 GBP" in finance  # 125000 + 99 minor units, summed as integers
    assert "50.00 EUR" in finance
    assert finance.count('class="pygal-chart"') == 1
    executive = client.get("/ui/").text
    assert 'data-system="backend"' in executive
    assert "G green" in executive
    ci = client.get("/ui/ci").text
    assert 'href="https://github.com/swan/portal/actions/runs/42"' in ci
    exceptions = client.get("/ui/exceptions").text
    assert "generateInvoice" in exceptions
    assert 'class="pygal-chart"' in exceptions


def test_event_stream_filters_pages_and_opens_an_event(
    client: TestClient, staff: Staff, emit: Emit, router: Router
) -> None:
    for n in range(55):
        emit("portal.upload.received", "portal", {"contractor_id": f"c{n}", "file_ref": "f"},
             event_id=f"up-{n:03d}")  # fmt: skip
    emit("ct.run.started", "ct", {"run_id": "run-x", "trigger": "contract.regenerate"},
         event_id="started-x", correlation_id="run-x")  # fmt: skip
    router.drain()
    sign_in(client, staff.tokens[Role.maintainer].token)
    first = client.get("/ui/events?source=portal&last=24h").text
    assert "up-054" in first
    assert "up-004" not in first
    assert "started-x" not in first
    older = re.search(r'rel="next" href="\?([^"]+)"', first)
    assert older is not None
    assert "source=portal" in older.group(1)
    second = client.get("/ui/events?" + older.group(1).replace("&amp;", "&")).text
    assert "up-004" in second
    assert "up-054" not in second
    assert "<option selected>portal</option>" in second  # the filter survives paging
    only = client.get("/ui/events?event_id=started-x").text
    assert "started-x" in only
    assert "up-054" not in only
    assert "run-x" in client.get("/ui/events?correlation_id=run-x").text
    detail = client.get("/ui/events/started-x")
    assert detail.status_code == 200
    assert "contract.regenerate" in detail.text
    assert client.get("/ui/events/no-such").status_code == 404
    timeline = client.get("/ui/correlations/run-x")
    assert timeline.status_code == 200
    assert "ct.run.started" in timeline.text
    assert client.get("/ui/events?since=yesterday").status_code == 400
