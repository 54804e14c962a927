"""Rotation with an overlap: `ct token rotate NAME --overlap 7d` issues a new token and signing
secret while the old ones keep working until the overlap ends; tokens have an age, `ct token
list` shows it, and one older than 90 days turns CT's own system amber, naming it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from control_tower.auth import tokens
from control_tower.auth.roles import Role
from control_tower.cli.main import app as cli
from control_tower.db import unit_of_work
from control_tower.ingest.signature import standard_webhooks_key
from control_tower.kit.clock import FrozenClock
from control_tower.kit.errors import Unprocessable
from control_tower.models import audit_log
from tests.conftest import TEST_MASTER_KEY, issue_token
from tests.helpers import cli_env, make_event
from tests.integrations.test_standard_webhooks import post_sw

KEY = TEST_MASTER_KEY.encode()


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url, tmp_path / "cli-data", TEST_MASTER_KEY)


def ct(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def post(client: TestClient, token: str, secret: str) -> int:
    body = json.dumps(make_event()).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "X-CT-Signature": f"sha256={digest}",
    }
    status: int = client.post("/events", content=body, headers=headers).status_code
    return status


def rotate(engine: Engine, clock: FrozenClock, name: str, overlap: timedelta) -> Any:
    with unit_of_work(engine) as conn:
        return tokens.rotate_token(
            conn, name=name, now=clock.now(), master_key=KEY, actor="test", overlap=overlap
        )


def test_old_and_new_credentials_both_work_until_the_overlap_ends(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    old = issue_token(engine, "backend-prod", Role.producer, "backend", now=clock.now())
    new = rotate(engine, clock, "backend-prod", timedelta(days=7))
    assert old.hmac_secret is not None
    assert new.hmac_secret is not None
    assert new.token != old.token
    assert new.hmac_secret != old.hmac_secret
    # Any live token with any live secret: producers may roll them out one at a time.
    for token in (old.token, new.token):
        for secret in (old.hmac_secret, new.hmac_secret):
            assert post(client, token, secret) == 202, (token == new.token, secret)
    # Standard Webhooks senders holding the old secret keep working too.
    assert post_sw(client, old.token, old.hmac_secret, clock).status_code == 202
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    assert post(client, old.token, old.hmac_secret) == 202
    clock.advance(timedelta(seconds=1))
    assert post(client, old.token, old.hmac_secret) == 401
    assert post(client, new.token, old.hmac_secret) == 401
    assert post_sw(client, new.token, old.hmac_secret, clock).status_code == 401
    assert post(client, new.token, new.hmac_secret) == 202


def test_without_an_overlap_the_old_ones_stop_at_once(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    old = issue_token(engine, "backend-prod", Role.producer, "backend", now=clock.now())
    new = rotate(engine, clock, "backend-prod", timedelta(0))
    assert old.hmac_secret
    assert new.hmac_secret
    assert post(client, old.token, old.hmac_secret) == 401
    assert post(client, new.token, old.hmac_secret) == 401
    assert post(client, new.token, new.hmac_secret) == 202


def test_revoking_a_rotated_token_ends_its_overlap_too(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    old = issue_token(engine, "backend-prod", Role.producer, "backend", now=clock.now())
    new = rotate(engine, clock, "backend-prod", timedelta(days=7))
    assert old.hmac_secret
    assert new.hmac_secret
    with unit_of_work(engine) as conn:
        tokens.revoke_token(conn, name="backend-prod", now=clock.now(), actor="test")
    assert post(client, old.token, old.hmac_secret) == 401
    assert post(client, new.token, new.hmac_secret) == 401


def test_an_overlap_is_bounded(engine: Engine, clock: FrozenClock) -> None:
    issue_token(engine, "backend-prod", Role.producer, "backend", now=clock.now())
    with pytest.raises(Unprocessable):
        rotate(engine, clock, "backend-prod", timedelta(days=91))


def test_rotation_through_the_cli_is_audited_and_listed_with_ages(
    env: dict[str, str], engine: Engine, clock: FrozenClock
) -> None:
    issue_token(
        engine, "backend-prod", Role.producer, "backend", now=clock.now() - timedelta(days=100)
    )
    issue_token(engine, "viewer-1", Role.viewer, now=clock.now() - timedelta(days=3))
    listed = ct(env, "token", "list")
    assert listed.exit_code == 0, listed.output
    assert "100d (over 90d: rotate)" in listed.stdout
    assert "3d " in listed.stdout

    rotated = ct(env, "token", "rotate", "backend-prod", "--overlap", "7d", "--json")
    assert rotated.exit_code == 0, rotated.output
    issued = json.loads(rotated.stdout)
    assert issued["hmac_secret"].startswith("whsec_")
    rows = {r["name"]: r for r in json.loads(ct(env, "token", "list", "--json").stdout)}
    assert rows["backend-prod"]["age_days"] == 0
    assert rows["backend-prod"]["previous_valid_until"] is not None
    assert rows["viewer-1"]["age_days"] == 3
    assert rows["viewer-1"]["previous_valid_until"] is None
    assert "old one works until" in ct(env, "token", "list").stdout

    bad = ct(env, "token", "rotate", "backend-prod", "--overlap", "a week")
    assert bad.exit_code != 0
    with unit_of_work(engine, write=False) as conn:
        [row] = conn.execute(select(audit_log).where(audit_log.c.action == "token.rotated")).all()
    assert row.target == "token:backend-prod"
    assert row.details["overlap_seconds"] == 7 * 86400
    actions = [a for a, _ in _audit(engine)]
    assert actions.count("token.created") == 2


def _audit(engine: Engine) -> list[tuple[str, str]]:
    with unit_of_work(engine, write=False) as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.target).order_by("seq"))
        return [(r.action, r.target) for r in rows]


def ct_system(client: TestClient, viewer: str) -> dict[str, Any]:
    answer = client.get("/systems/ct", headers={"Authorization": f"Bearer {viewer}"})
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


def test_a_token_older_than_90_days_turns_ct_amber_naming_it(
    client: TestClient, engine: Engine, clock: FrozenClock
) -> None:
    viewer = issue_token(engine, "viewer-1", Role.viewer, now=clock.now()).token
    issue_token(
        engine, "finance-prod", Role.producer, "finance", now=clock.now() - timedelta(days=89)
    )
    assert not [r for r in ct_system(client, viewer)["reasons"] if r["objective"] == "token_age"]

    clock.advance(timedelta(days=2))  # finance-prod is now 91 days old; viewer-1 2 days
    system = ct_system(client, viewer)
    [reason] = [r for r in system["reasons"] if r["objective"] == "token_age"]
    assert system["status"] == "amber"
    assert reason["status"] == "amber"
    assert reason["measured"] == {"token": "finance-prod", "age_days": 91}
    assert "finance-prod" in reason["message"]
    assert "ct token rotate finance-prod" in reason["message"]
    # Other systems do not hear about tokens.
    backend = client.get("/systems/backend", headers={"Authorization": f"Bearer {viewer}"})
    assert not [r for r in backend.json()["reasons"] if r["objective"] == "token_age"]

    rotate(engine, clock, "finance-prod", timedelta(days=7))
    system = ct_system(client, viewer)
    assert not [r for r in system["reasons"] if r["objective"] == "token_age"]
    assert system["status"] != "amber"


def test_the_secret_keys_both_schemes_derive(engine: Engine, clock: FrozenClock) -> None:
    issued = issue_token(engine, "backend-prod", Role.producer, "backend", now=clock.now())
    assert issued.hmac_secret is not None
    hex_part = issued.hmac_secret.removeprefix("whsec_")
    assert len(hex_part) == 64
    assert standard_webhooks_key(issued.hmac_secret) == base64.b64decode(hex_part)
