from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.notify.receivers import HttpReceiver, running_http_receiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with running_http_receiver() as r:
        yield r
