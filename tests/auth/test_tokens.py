"""Service tokens: shown once, stored only as a hash, revocable, expirable and rotatable."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, select, text
from typer.testing import CliRunner

from control_tower.auth.roles import Role
from control_tower.auth.tokens import IssuedToken
from control_tower.cli.main import app as cli
from control_tower.kit.clock import FrozenClock
from control_tower.models import audit_log
from tests.conftest import TEST_MASTER_KEY, issue_token
from tests.helpers import Producer, cli_env, make_event


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return cli_env(database_url, tmp_path / "cli-data", TEST_MASTER_KEY)


def ct(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def create_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = ct(env, "token", "create", *args, "--json")
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def post_signed(client: TestClient, token: str, secret: str) -> int:
    producer = Producer(IssuedToken("p", Role.producer, "backend", token, secret, None))
    body, headers = producer.signed(make_event())
    return client.post("/events", content=body, headers=headers).status_code


def audit_actions(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.target).order_by("seq"))
        return [(r.action, r.target) for r in rows]


def test_create_producer_prints_token_and_signing_secret_once(
    env: dict[str, str], client: TestClient
) -> None:
    created = create_json(env, "--name", "finance-bot", "--role", "producer", "--source", "backend")
    assert {"token", "hmac_secret", "role", "name"} <= created.keys()
    assert created["role"] == "producer"
    assert created["name"] == "finance-bot"
    # The printed pair really works against the server.
    assert post_signed(client, created["token"], created["hmac_secret"]) == 202


def test_create_staff_token_has_no_signing_secret(env: dict[str, str], client: TestClient) -> None:
    created = create_json(env, "--name", "alice", "--role", "maintainer")
    assert created["role"] == "maintainer"
    assert "hmac_secret" not in created
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/events", headers=headers).status_code == 200


def test_the_store_keeps_neither_token_nor_signing_secret(
    env: dict[str, str], engine: Engine
) -> None:
    producer = create_json(env, "--name", "p1", "--role", "producer", "--source", "backend")
    staff = create_json(env, "--name", "s1", "--role", "owner")
    rotated = json.loads(ct(env, "token", "rotate", "p1", "--json").stdout)
    secrets = [
        producer["token"],
        producer["hmac_secret"],
        staff["token"],
        rotated["token"],
        rotated["hmac_secret"],
    ]
    stored: list[str] = []
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        assert "tokens" in tables
        assert "audit_log" in tables
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                stored.extend(str(value) for value in row)
    dump = "\n".join(stored)
    assert "p1" in dump  # the scan does see the tokens table
    for secret in secrets:
        assert secret not in dump
        # Nor the part after a well-known prefix.
        assert secret.split("_", 1)[1] not in dump


def test_list_revoke_and_rotate_through_the_cli(
    env: dict[str, str], client: TestClient, engine: Engine
) -> None:
    first = create_json(env, "--name", "bot", "--role", "producer", "--source", "backend")
    create_json(env, "--name", "viewer-1", "--role", "viewer")

    listed = ct(env, "token", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["bot"]["role"] == "producer"
    assert rows["bot"]["source"] == "backend"
    assert rows["viewer-1"]["revoked_at"] is None
    assert first["token"] not in listed.stdout

    rotated = json.loads(ct(env, "token", "rotate", "bot", "--json").stdout)
    assert rotated["token"] != first["token"]
    assert rotated["hmac_secret"] != first["hmac_secret"]
    assert post_signed(client, first["token"], first["hmac_secret"]) == 401
    assert post_signed(client, rotated["token"], first["hmac_secret"]) == 401
    assert post_signed(client, rotated["token"], rotated["hmac_secret"]) == 202

    revoked = ct(env, "token", "revoke", "bot")
    assert revoked.exit_code == 0, revoked.output
    assert post_signed(client, rotated["token"], rotated["hmac_secret"]) == 401
    again = ct(env, "token", "revoke", "bot")
    assert again.exit_code == 1
    assert "no active token" in again.output

    rows = {row["name"]: row for row in json.loads(ct(env, "token", "list", "--json").stdout)}
    assert rows["bot"]["revoked_at"] is not None
    assert audit_actions(engine)[-4:] == [
        ("token.created", "token:bot"),
        ("token.created", "token:viewer-1"),
        ("token.rotated", "token:bot"),
        ("token.revoked", "token:bot"),
    ]


def test_token_create_and_revoke_land_in_the_audit_log(env: dict[str, str], engine: Engine) -> None:
    before = audit_actions(engine)
    create_json(env, "--name", "carol", "--role", "operator")
    assert ct(env, "token", "revoke", "carol").exit_code == 0
    assert audit_actions(engine) == [
        *before,
        ("token.created", "token:carol"),
        ("token.revoked", "token:carol"),
    ]
    verified = ct(env, "audit", "verify")
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "producer"], "needs --source"),
        (["--role", "viewer", "--source", "backend"], "only producer tokens"),
        (["--role", "producer", "--source", "nowhere"], "unknown source"),
        (["--role", "viewer", "--name", "n" * 129], "1 to 128 characters"),
        (["--role", "viewer", "--name", "  "], "1 to 128 characters"),
    ],
    ids=["producer without source", "staff with source", "unknown source", "long", "blank"],
)
def test_token_shapes_that_make_no_sense_are_refused(
    env: dict[str, str], engine: Engine, args: list[str], message: str
) -> None:
    before = audit_actions(engine)
    result = ct(env, "token", "create", "--name", "odd", *args, "--json")
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert json.loads(ct(env, "token", "list", "--json").stdout) == []
    assert audit_actions(engine) == before


def test_a_duplicate_name_is_refused(env: dict[str, str]) -> None:
    create_json(env, "--name", "dup", "--role", "viewer")
    result = ct(env, "token", "create", "--name", "dup", "--role", "viewer")
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_an_expired_token_gets_401(engine: Engine, client: TestClient, clock: FrozenClock) -> None:
    past = clock.now() - timedelta(minutes=1)
    expired = issue_token(engine, "old-viewer", Role.maintainer, now=past, expires_at=past)
    response = client.get("/events", headers={"Authorization": f"Bearer {expired.token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    future = clock.now() + timedelta(days=1)
    valid = issue_token(engine, "new-viewer", Role.maintainer, now=clock.now(), expires_at=future)
    ok = client.get("/events", headers={"Authorization": f"Bearer {valid.token}"})
    assert ok.status_code == 200


def test_cli_expiry_in_the_past_makes_the_token_useless(
    env: dict[str, str], client: TestClient
) -> None:
    created = create_json(env, "--name", "m", "--role", "maintainer", "--expires", "2020-01-01")
    assert created["expires_at"].startswith("2020-01-01T00:00:00")
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/events", headers=headers).status_code == 401


def test_unknown_and_malformed_bearer_tokens_get_401(client: TestClient) -> None:
    for header in ("Bearer ct_not-a-real-token", "Basic abc", "Bearer ", "ct_no-scheme"):
        response = client.get("/events", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/events").status_code == 401
