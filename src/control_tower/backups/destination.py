"""Where backups live: a folder or any fsspec URL (gs://bucket/ct, memory://ct in tests).

A destination holds one folder per backup, named after the moment its snapshot was taken
(`ct-20261206T023000Z`), with one `<table>.jsonl.gz` per table and `manifest.json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import fsspec
import structlog

from control_tower.backups.manifest import MANIFEST_NAME, Manifest, ManifestInvalid, parse_manifest

log = structlog.get_logger(__name__)

NAME_PREFIX = "ct-"
UNFINISHED = "unfinished: no manifest.json"
_STAMP = "%Y%m%dT%H%M%SZ"


def default_destination(data_dir: Path) -> str:
    return str((data_dir / "backups").resolve())


@dataclass(frozen=True)
class Location:
    """A folder on one fsspec filesystem: a destination, or one backup in it."""

    fs: Any  # fsspec.AbstractFileSystem (untyped)
    path: str

    @classmethod
    def parse(cls, url: str) -> Location:
        fs, path = fsspec.core.url_to_fs(url)
        return cls(fs, str(path).rstrip("/") or "/")

    @property
    def url(self) -> str:
        """How people and the record name it: the fsspec URL, or the local path."""
        protocol = self.fs.protocol
        scheme = protocol[0] if isinstance(protocol, tuple | list) else protocol
        if scheme in ("file", "local"):
            return self.path
        return str(self.fs.unstrip_protocol(self.path))

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def child(self, name: str) -> Location:
        return Location(self.fs, f"{self.path.rstrip('/')}/{name}")

    def open(self, name: str, mode: str) -> IO[bytes]:
        return cast(IO[bytes], self.fs.open(self.child(name).path, mode))

    def exists(self, name: str | None = None) -> bool:
        return bool(self.fs.exists(self.child(name).path if name else self.path))

    def makedirs(self) -> None:
        self.fs.makedirs(self.path, exist_ok=True)

    def remove(self) -> None:
        self.fs.rm(self.path, recursive=True)

    def read_manifest(self) -> Manifest:
        try:
            with self.open(MANIFEST_NAME, "rb") as f:
                data = f.read()
        except FileNotFoundError as exc:
            raise ManifestInvalid(
                f"no {MANIFEST_NAME} in {self.url}: not a finished backup"
            ) from exc
        return parse_manifest(data)

    def children(self) -> list[Location]:
        """The folders in this one, by name (oldest backup first)."""
        if not self.fs.exists(self.path):
            return []
        entries = self.fs.ls(self.path, detail=True)
        names = sorted(
            str(e["name"]).rstrip("/").rsplit("/", 1)[-1]
            for e in entries
            if e.get("type") == "directory"
        )
        return [self.child(name) for name in names]


def backup_location(url: str) -> Location:
    """A backup given on the command line: its folder, or its manifest.json."""
    location = Location.parse(url)
    if location.name == MANIFEST_NAME:
        parent = location.path.rstrip("/").rsplit("/", 1)[0]
        return Location(location.fs, parent)
    return location


def new_backup_name(destination: Location, created_at: datetime) -> str:
    """A folder name for a snapshot taken at `created_at`, unused in `destination`."""
    base = NAME_PREFIX + created_at.astimezone(UTC).strftime(_STAMP)
    name, n = base, 1
    while destination.exists(name):
        n += 1
        name = f"{base}-{n}"
    return name


def name_time(name: str) -> datetime | None:
    """The moment in a backup folder's name, or None for a folder CT did not name."""
    if not name.startswith(NAME_PREFIX):
        return None
    stamp = name[len(NAME_PREFIX) :].split("-", 1)[0]
    try:
        return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class ListedBackup:
    location: Location
    manifest: Manifest | None  # None: unfinished (no manifest) or unreadable (see `problem`)
    problem: str | None = None

    @property
    def finished(self) -> bool:
        """It has a manifest (which may still be unreadable)."""
        return self.manifest is not None or self.problem != UNFINISHED


def list_backups(destination: Location) -> list[ListedBackup]:
    """Every backup folder in `destination`, oldest first, with its manifest if readable."""
    found = []
    for child in destination.children():
        if name_time(child.name) is None:
            continue
        if not child.exists(MANIFEST_NAME):
            found.append(ListedBackup(child, None, UNFINISHED))
            continue
        try:
            found.append(ListedBackup(child, child.read_manifest()))
        except ManifestInvalid as exc:
            found.append(ListedBackup(child, None, str(exc)))
    return found
