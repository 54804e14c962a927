"""Settings: the master key file is created whole, with mode 600, once, and an empty one is
refused rather than used."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from control_tower.settings import Settings, read_or_create_key


def test_the_master_key_is_created_once_with_mode_600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = settings.master_key()
    path = tmp_path / "data" / "master.key"
    assert len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path / "data").master_key() == key  # read back, not replaced
    assert [p.name for p in path.parent.iterdir()] == ["master.key"]  # no temporary file left


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(read_or_create_key(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1
    assert path.read_bytes() == keys[0]


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.touch(mode=0o600)  # what a crash between create and write used to leave
    with pytest.raises(ValueError, match="empty"):
        read_or_create_key(path)


def test_a_configured_secret_key_wins_over_the_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="configured")
    assert settings.master_key() == b"configured"
    assert not os.path.exists(tmp_path / "master.key")
