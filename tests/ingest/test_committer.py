"""Group commit: many requests in one transaction, one bad request never fails the others, and
a store that cannot be reached answers 503 without losing what was acknowledged."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from control_tower.catalog import Catalog, load_default_catalog
from control_tower.db import build_engine
from control_tower.ingest.committer import GroupCommitter
from control_tower.ingest.preparation import prepare_event
from control_tower.kit.errors import StoreUnavailable
from control_tower.models import event_routes, events
from control_tower.models.events import EventRow
from tests.helpers import make_event


@functools.cache
def default_catalog() -> Catalog:
    return load_default_catalog()


def row(event_id: str) -> EventRow:
    # A fixed instant: nothing here compares it with a clock.
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    event = make_event(event_id=event_id, occurred_at=now - timedelta(minutes=1))
    return prepare_event(event, None, default_catalog(), now, "t").row


def committing(engine: Engine, scenario: Any, **kwargs: Any) -> Any:
    async def run() -> Any:
        committer = GroupCommitter(engine, **kwargs)
        await committer.start()
        try:
            return await scenario(committer), committer.commits
        finally:
            await committer.stop()

    return asyncio.run(run())


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(events.c.event_id)).scalars())


def test_requests_share_commits_and_a_bad_one_fails_alone(engine: Engine) -> None:
    good = [row(f"good-{i}") for i in range(20)]
    bad: Any = dict(row("bad"), payload_sha256=None)  # NOT NULL: the store refuses it

    async def scenario(committer: GroupCommitter) -> list[Any]:
        return list(
            await asyncio.gather(
                *(committer.submit([r]) for r in good[:10]),
                committer.submit([bad]),
                *(committer.submit([r]) for r in good[10:]),
                return_exceptions=True,
            )
        )

    results, commits = committing(engine, scenario)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], StoreUnavailable)
    assert failures[0].status_code == 503
    accepted = [r[0].kind for r in results if not isinstance(r, BaseException)]
    assert accepted == ["accepted"] * 20
    assert commits < 21  # grouped: fewer commits than requests
    assert stored_ids(engine) == {r["event_id"] for r in good}


def test_each_event_is_stored_once_with_its_routing_job(engine: Engine) -> None:
    same = row("same-id")
    others = [row(f"w-{i}") for i in range(30)]

    async def scenario(committer: GroupCommitter) -> list[list[Any]]:
        requests = [committer.submit([same]) for _ in range(10)]
        requests += [committer.submit(others[i : i + 3]) for i in range(0, 30, 3)]
        conflicting = dict(row("w-0"), payload_sha256="x" * 64)
        requests.append(committer.submit([conflicting]))
        return list(await asyncio.gather(*requests))

    results, _ = committing(engine, scenario, max_events=4)
    assert sorted(r[0].kind for r in results[:10]) == ["accepted"] + ["duplicate"] * 9
    assert [o.kind for r in results[10:-1] for o in r] == ["accepted"] * 30
    assert results[-1][0].kind == "conflict"
    assert stored_ids(engine) == {"same-id", *(r["event_id"] for r in others)}
    with engine.connect() as conn:
        routed = set(conn.execute(select(event_routes.c.event_id)).scalars())
    assert routed == stored_ids(engine)  # the outbox row commits with its event


def test_an_unreachable_store_answers_503_and_ingest_goes_on_after(engine: Engine) -> None:
    url = engine.url.set(port=1) if engine.dialect.name == "postgresql" else None
    broken = build_engine(url.render_as_string(hide_password=False)) if url else None
    if broken is None:  # SQLite: a store file that cannot be opened (a directory)
        directory = engine.url.database + ".d"  # type: ignore[operator]
        __import__("os").makedirs(directory, exist_ok=True)
        broken = build_engine(f"sqlite:///{directory}")

    async def refused(committer: GroupCommitter) -> BaseException | None:
        try:
            await committer.submit([row("lost")])
        except StoreUnavailable as exc:
            return exc
        return None

    error, _ = committing(broken, refused)
    assert isinstance(error, StoreUnavailable)
    assert error.headers["Retry-After"] == "1"
    broken.dispose()

    async def accepted(committer: GroupCommitter) -> str:
        [outcome] = await committer.submit([row("after")])
        return outcome.kind

    assert committing(engine, accepted)[0] == "accepted"
    assert stored_ids(engine) == {"after"}
