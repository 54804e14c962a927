"""`ct demo`: demo tokens for Swan's producers and roles, and a ready-to-paste signed curl."""

from __future__ import annotations

import json
import shlex
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import select

from control_tower.auth import tokens
from control_tower.auth.roles import Role
from control_tower.catalog import load_configured_catalog
from control_tower.cli.common import CLI_ACTOR, engine, now, settings
from control_tower.cli.demo_events import seed_demo_events
from control_tower.cli.demo_story import Story, send, start_runs
from control_tower.db import unit_of_work
from control_tower.kit.signing import sign
from control_tower.models import tokens as tokens_table

DEMO_TOKENS: list[tuple[str, Role, str | None]] = [
    ("demo-backend", Role.producer, "backend"),
    ("demo-finance", Role.producer, "finance"),
    ("demo-github", Role.producer, "github"),
    ("demo-portal", Role.producer, "portal"),
    ("demo-website", Role.producer, "website"),
    ("demo-desktop", Role.producer, "desktop"),
    ("demo-owner", Role.owner, None),
    ("demo-maintainer", Role.maintainer, None),
    ("demo-operator", Role.operator, None),
    ("demo-viewer", Role.viewer, None),
]


def demo(
    base_url: Annotated[str, typer.Option("--base-url")] = "http://127.0.0.1:8080",
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Store sample events.")] = True,
    days: Annotated[
        int,
        typer.Option(
            "--days",
            min=0,
            max=90,
            help="Send N days of the producers' story through the signed API of the CT "
            "running at --base-url (0: store a morning of samples directly).",
        ),
    ] = 0,
) -> None:
    """Create (or rotate) the demo tokens and print them with a signed curl to try."""
    s = settings()
    key = s.master_key()
    issued: dict[str, tokens.IssuedToken] = {}
    with engine() as eng, unit_of_work(eng) as conn:
        catalog = load_configured_catalog(s.catalog)
        known = catalog.source_ids()
        existing = {
            r.name
            for r in conn.execute(select(tokens_table.c.name, tokens_table.c.revoked_at))
            if r.revoked_at is None
        }
        for name, role, source in DEMO_TOKENS:
            if name in existing:
                issued[name] = tokens.rotate_token(
                    conn, name=name, now=now(), master_key=key, actor=CLI_ACTOR
                )
            else:
                issued[name] = tokens.create_token(
                    conn,
                    name=name,
                    role=role,
                    source=source,
                    now=now(),
                    master_key=key,
                    known_sources=known,
                    actor=CLI_ACTOR,
                )
    if days:
        tell_story(base_url, days, issued)
    elif seed:
        with engine() as eng:
            stored = seed_demo_events(eng, catalog, now())
        typer.echo(f"Stored {stored} sample events (the router applies them when CT starts).")
    typer.echo("Demo tokens (rotated on every `ct demo`; shown only now):")
    for name, item in issued.items():
        extra = f"  signing secret: {item.hmac_secret}" if item.hmac_secret else ""
        typer.echo(f"  {name:<16} {item.role.value:<10} {item.token}{extra}")
    producer = issued["demo-backend"]
    assert producer.hmac_secret is not None
    body = json.dumps(
        {
            "eventId": f"demo-{uuid.uuid4().hex[:12]}",
            "type": "backend.fn.error",
            "ts": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "source": "backend",
            "payload": {"fn_name": "generateInvoice", "severity": "high", "stack_ref": "log/123"},
        },
        separators=(",", ":"),
    )
    signature = sign(producer.hmac_secret, body.encode("utf-8"))
    typer.echo("\nSend a signed event:")
    auth = shlex.quote("Authorization: Bearer " + producer.token)
    typer.echo(
        f"  curl -sS -X POST {base_url}/events -H {auth} "
        f"-H 'Content-Type: application/json' -H {shlex.quote('X-CT-Signature: ' + signature)} "
        f"--data-binary {shlex.quote(body)}"
    )
    typer.echo("\nSign in to the UI at " + base_url + "/ui/ with the demo-viewer token.")
    typer.echo("\nRead it back as a maintainer:")
    typer.echo(
        f"  curl -sS {base_url}/events -H "
        f"{shlex.quote('Authorization: Bearer ' + issued['demo-maintainer'].token)}"
    )


def tell_story(base_url: str, days: int, issued: dict[str, tokens.IssuedToken]) -> None:
    """`--days N`: the story (cli/demo_story.py) through the API of a running CT."""
    story = Story(now(), days, run=uuid.uuid4().hex[:8]).build()
    producers = {
        item.source: (item.token, item.hmac_secret)
        for item in issued.values()
        if item.source is not None and item.hmac_secret is not None
    }
    began = time.perf_counter()
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            client.get("/readyz").raise_for_status()
            with Progress(*columns) as progress:
                totals = send(client, story, producers, progress)
            runs = start_runs(client, issued["demo-operator"].token)
    except RuntimeError as exc:  # CT refused something: say what, not a traceback
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        typer.echo(
            f"error: no CT answering at {base_url} ({exc}); start `ct serve` first", err=True
        )
        raise typer.Exit(1) from exc
    took = time.perf_counter() - began
    typer.echo(
        f"Sent {story.count} events of {days} days in {took:.1f} s: {totals['accepted']} stored, "
        f"{totals['duplicates']} duplicates, {totals['rejected']} refused; started runs "
        f"{', '.join(runs)}."
    )
