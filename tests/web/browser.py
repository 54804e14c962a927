"""A real browser on a real CT: Playwright (from PyPI) driving Debian's Chromium
(/usr/bin/chromium; never `playwright install`) against `ct serve` seeded by `ct demo --days`
through the signed API, with a local trigger target. Shared by tests/web/test_browser.py and
`make screenshots` (`python -m tests.web.screenshots`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from control_tower.catalog import load_default_catalog
from tests.runs.conftest import secrets_for
from tests.runs.target_server import Target, running_target
from tests.servers import CTServer, create_token, ct_cli, run_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass
class Stage:
    """A seeded CT, its target, a browser, and a staff token per role name."""

    server: CTServer
    target: Target
    browser: Browser
    tokens: dict[str, str]

    def signed_in(self, role: str, **options: Any) -> tuple[BrowserContext, Page, list[str]]:
        """A fresh browser context signed in with `role`'s token, and the console errors and
        page errors it meets (collected as they happen)."""
        context = self.browser.new_context(base_url=self.server.base_url, **options)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/ui/login")
        page.fill("#token", self.tokens[role])
        page.click("form.login button[type=submit]")
        page.wait_for_url(re.compile(r".*/ui/$"))
        return context, page, errors


@contextmanager
def stage(env: dict[str, str], logs: Path, *, days: int) -> Iterator[Stage]:
    """Target, `ct serve` pointed at it, `ct demo --days`, staff tokens, Chromium."""
    with running_target(secrets_for(load_default_catalog())) as target:
        served = {**env, "CT_TRIGGER_TARGET_BASE_URL": target.url, "CT_WORKER_POLL_SECONDS": "0.2"}
        with run_server(served, logs) as server:
            ct_cli(served, "demo", "--days", str(days), "--base-url", server.base_url,
                   timeout=120)  # fmt: skip
            tokens = {
                role: str(create_token(served, f"ui-{role}", role)["token"])
                for role in ("viewer", "operator", "maintainer")
            }
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
                )
                try:
                    yield Stage(server, target, browser, tokens)
                finally:
                    browser.close()
