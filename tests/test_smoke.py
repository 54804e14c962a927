"""Work order §11: a real server; a signed event in, read back by a maintainer; others out."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import make_event
from tests.servers import bearer, create_token, producer_from_cli, run_server


def test_signed_event_round_trip_on_a_real_server(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    with run_server(server_env, tmp_path / "logs") as server, server.client() as http:
        producer = producer_from_cli(server_env, "smoke-backend", "backend")
        maintainer = create_token(server_env, "smoke-maintainer", "maintainer")
        viewer = create_token(server_env, "smoke-viewer", "viewer")

        event = make_event(event_id="smoke-1", correlation_id="run-smoke")
        body, headers = producer.signed(event)
        posted = http.post("/events", content=body, headers=headers)
        assert posted.status_code == 202, posted.text
        assert posted.json()["event_id"] == "smoke-1"

        listed = http.get("/events", headers=bearer(maintainer))
        assert listed.status_code == 200, listed.text
        [item] = listed.json()["items"]
        assert item["event_id"] == "smoke-1"
        assert item["correlation_id"] == "run-smoke"
        assert item["payload"] == event["payload"]
        assert item["producer"] == "smoke-backend"

        refused = http.get("/events", headers=bearer(viewer))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "insufficient_role"

        unsigned = {k: v for k, v in headers.items() if k != "X-CT-Signature"}
        other = json.dumps(make_event(event_id="smoke-unsigned")).encode()
        denied = http.post("/events", content=other, headers=unsigned)
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "signature_missing"

        after = http.get("/events", headers=bearer(maintainer)).json()["items"]
        assert [e["event_id"] for e in after] == ["smoke-1"]
