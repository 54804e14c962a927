"""Header lookup from the scope: as Starlette's `request.headers.get`, built once per request."""

from __future__ import annotations

from starlette.requests import Request

from control_tower.kit.http_headers import header


def request(pairs: object) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": pairs})


def test_first_value_wins_and_missing_is_none_as_with_starlette() -> None:
    pairs = [(b"x-a", b"1"), (b"content-type", b"application/json"), (b"x-a", b"2")]
    req = request(pairs)
    assert header(req.scope, b"x-a") == req.headers.get("x-a") == "1"
    assert header(req.scope, b"content-type") == "application/json"
    assert header(req.scope, b"x-missing") is None
    assert req.headers.get("x-missing") is None


def test_values_are_latin_1_and_any_iterable_of_pairs_works() -> None:
    req = request(iter([(b"x-name", "café".encode("latin-1"))]))
    assert header(req.scope, b"x-name") == "café"
    assert header(req.scope, b"x-name") == "café"  # from the dict built on the first call
