from __future__ import annotations

from collections.abc import Iterator

import pytest

from control_tower.kit.clock import FrozenClock
from tests.pollers.fakes import GitHubState, HealthState, fake_github, health_server


@pytest.fixture
def health() -> Iterator[tuple[HealthState, str]]:
    state = HealthState()
    with health_server(state) as url:
        yield state, url


@pytest.fixture
def github(clock: FrozenClock) -> Iterator[tuple[GitHubState, str]]:
    state = GitHubState(clock=clock)
    with fake_github(state) as url:
        yield state, url
