"""In a real browser against a real `ct serve` seeded with `ct demo --days 2`: sign in, every
dashboard shows its panels with no console error (so the CSP refused nothing), the event stream
filters, an operator previews and confirms `contract.regenerate` and sees the run finish
against a local target, a viewer sees no action and a forged POST gets 403, and a POST
without its CSRF token is refused."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from control_tower.dashboards.spec import load_spec
from tests.conftest import TEST_MASTER_KEY
from tests.servers import ct_env
from tests.web.browser import CHROMIUM, stage

pytestmark = pytest.mark.slow
FINAL = ("success", "failed", "cancelled")


def test_dashboards_and_actions_in_a_browser(tmp_path: Path) -> None:
    # One store is enough for the browser: the pages' services are tested on both below it.
    assert CHROMIUM.exists(), "Debian's chromium is missing: `apt-get install chromium`"
    env = ct_env(f"sqlite:///{tmp_path / 'ct.sqlite3'}", tmp_path / "data", TEST_MASTER_KEY)
    with stage(env, tmp_path / "logs", days=2) as s:
        # Every dashboard, as a maintainer (who sees them all): panels there, no error.
        context, page, errors = s.signed_in("maintainer")
        for dashboard in load_spec().dashboards:
            page.goto(dashboard.path)
            for panel in dashboard.panels:
                assert page.locator(f'[data-panel="{panel.id}"]').is_visible(), panel.id
            assert errors == [], (dashboard.id, errors)
        assert page.locator("svg.pygal-chart").count() >= 1

        # The event stream filters, and keeps its filter when it refreshes.
        page.goto("/ui/events")
        page.select_option("select[name=source]", "finance")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*source=finance.*"))
        sources = page.locator('[data-panel="stream"] tbody tr td:nth-child(4)').all_inner_texts()
        assert sources
        assert set(sources) == {"finance"}
        refresh = page.locator('meta[http-equiv="refresh"]').get_attribute("content")
        assert refresh == "60"  # no URL: the browser reloads this one, query string and all
        context.close()

        # An operator runs contract.regenerate: form, dry-run preview, confirm, final state.
        context, page, errors = s.signed_in("operator")
        page.goto("/ui/runs")
        page.click("text=Run a trigger…")
        page.click('a[href="/ui/triggers/contract.regenerate"]')
        page.fill("#in_contract_id", "K-browser-1")
        page.click("#trigger-form button[type=submit]")
        assert "/ct/actions/contract.regenerate" in page.locator("#planned").inner_text()
        page.click("#confirm")
        page.wait_for_url(re.compile(r".*/ui/runs/run-[0-9a-f]+$"))
        deadline = time.monotonic() + 20
        status = page.locator("[data-status]").get_attribute("data-status")
        while status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.3)
            page.reload()
            status = page.locator("[data-status]").get_attribute("data-status")
        assert status == "success"
        assert "operator" in page.locator("table.facts").inner_text()
        assert any(d.body.get("inputs", {}).get("contract_id") == "K-browser-1"
                   for d in s.target.deliveries)  # fmt: skip
        # A form without its CSRF token is refused, even from the signed-in operator.
        origin = {"Origin": s.server.base_url}
        bare = context.request.post("/ui/triggers/contract.regenerate/run",
                                    form={"in_contract_id": "K-x"}, headers=origin)  # fmt: skip
        assert bare.status == 403
        assert errors == []
        context.close()

        # A viewer sees no action, and a forged POST (with a valid CSRF token) gets 403.
        context, page, errors = s.signed_in("viewer")
        page.goto("/ui/runs")
        assert page.locator("text=Run a trigger").count() == 0
        assert page.locator("main form").count() == 0
        csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
        assert csrf
        forged = context.request.post(
            "/ui/triggers/contract.regenerate/run",
            form={"csrf": csrf, "in_contract_id": "K-forged"},
            headers=origin,
        )
        assert forged.status == 403
        assert errors == []
        context.close()
