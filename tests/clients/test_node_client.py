"""The Node client's own suite (`npm test` in clients/node: Node's built-in test runner, against
a real `ct serve` it starts with this Python), so `make test` covers it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NODE_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"


def test_the_node_client_suite_passes() -> None:
    npm = shutil.which("npm")
    assert npm is not None, "clients/node is tested with Node 20+ and npm, not found on PATH"
    env = {**os.environ, "CT_PYTHON": sys.executable, "npm_config_update_notifier": "false"}
    done = subprocess.run(
        [npm, "test"],
        cwd=NODE_CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, f"npm test failed:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
    assert "# fail 0" in done.stdout
    assert not (NODE_CLIENT / "package-lock.json").exists()
