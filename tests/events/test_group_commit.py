"""Group commit: many requests in one transaction, and one bad request never fails the others."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from control_tower.catalog import Catalog, load_default_catalog
from control_tower.events.group_commit import GroupCommitter
from control_tower.events.ingest import prepare_event
from control_tower.events.writer_process import WriterConfig
from control_tower.kit.errors import Unavailable
from control_tower.models import events
from tests.helpers import make_event


@pytest.fixture(params=["thread", "process", "loop"])
def writer(request: pytest.FixtureRequest, database_url: str, engine: Engine) -> dict[str, Any]:
    """Where commits run: threads of this process, writer child processes, or async
    connections on the event loop (PostgreSQL only: on SQLite the committer refuses it)."""
    if request.param == "loop" and engine.dialect.name == "sqlite":
        with pytest.raises(ValueError, match="need PostgreSQL"):
            GroupCommitter(engine, on_loop=True)
        return {}  # and the test runs with thread writers, SQLite's fallback
    if request.param == "process":
        return {"writer_process": WriterConfig(database_url)}
    return {"on_loop": request.param == "loop"}


@functools.cache
def default_catalog() -> Catalog:
    return load_default_catalog()  # ≈ 80 ms a load


def row(event_id: str) -> dict[str, Any]:
    catalog = default_catalog()
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    event = make_event(event_id=event_id, occurred_at=now - timedelta(minutes=1))
    return prepare_event(event, None, catalog, now, "t").row


def test_requests_share_commits_and_a_bad_one_fails_alone(
    engine: Engine, writer: dict[str, Any]
) -> None:
    good = [row(f"good-{i}") for i in range(20)]
    bad = dict(row("bad"), payload_sha256=None)  # NOT NULL: the store refuses it

    async def scenario() -> tuple[list[Any], int]:
        committer = GroupCommitter(engine, **writer)
        await committer.start()
        try:
            results = await asyncio.gather(
                *(committer.submit([r]) for r in good[:10]),
                committer.submit([bad]),
                *(committer.submit([r]) for r in good[10:]),
                return_exceptions=True,
            )
        finally:
            await committer.stop()
        return list(results), committer.commits

    results, commits = asyncio.run(scenario())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], Unavailable)
    accepted = [r[0].kind for r in results if not isinstance(r, BaseException)]
    assert accepted == ["accepted"] * 20
    assert commits < 21  # grouped: fewer commits than requests
    with engine.connect() as conn:
        stored = {r.event_id for r in conn.execute(select(events.c.event_id))}
    assert stored == {r["event_id"] for r in good}


def test_several_writers_store_each_event_once(engine: Engine, writer: dict[str, Any]) -> None:
    # On PostgreSQL three commits may be in flight at once; SQLite keeps one writer.
    same = row("same-id")
    others = [row(f"w-{i}") for i in range(30)]

    async def scenario() -> list[list[Any]]:
        committer = GroupCommitter(engine, max_events=4, writers=3, **writer)
        await committer.start()
        try:
            requests = [committer.submit([same]) for _ in range(10)]
            requests += [committer.submit(others[i : i + 3]) for i in range(0, 30, 3)]
            return list(await asyncio.gather(*requests))
        finally:
            await committer.stop()

    results = asyncio.run(scenario())
    same_kinds = sorted(r[0].kind for r in results[:10])
    assert same_kinds == ["accepted"] + ["duplicate"] * 9
    assert [o.kind for r in results[10:] for o in r] == ["accepted"] * 30
    with engine.connect() as conn:
        stored = [r.event_id for r in conn.execute(select(events.c.event_id))]
    assert sorted(stored) == sorted(["same-id", *(r["event_id"] for r in others)])
