"""A backup's manifest: what it holds, file by file, and a checksum over itself.

`manifest.json` is written last, so a folder without one is an unfinished backup. Its
`checksum` is the sha256 of its canonical JSON without that key: an edited manifest (a row
count, a file's sha256, the audit head) no longer matches it. Someone who rewrites a file and
recomputes every checksum is not caught by this alone — the audit rows' own hash chain and the
head recorded elsewhere (the digest, `ct backup list` output kept in a ticket) are.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from control_tower.kit.canonical import canonical_json, sha256_hex

FORMAT = "ct-backup/1"
MANIFEST_NAME = "manifest.json"


class ManifestInvalid(Exception):
    """The manifest cannot be read, or it was changed after it was written."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TableEntry(_Frozen):
    name: str
    file: str
    rows: int
    bytes: int
    sha256: str
    columns: list[str]
    primary_key: list[str]
    max_key: int | None = None  # the largest value of a single integer primary key


class AuditHead(_Frozen):
    last_seq: int
    last_hash: str


class EventsHeld(_Frozen):
    """Which events the backup holds: event retention prunes only these."""

    max_seq: int | None
    oldest_occurred_at: datetime | None
    newest_occurred_at: datetime | None


class Manifest(_Frozen):
    format: str = FORMAT
    name: str
    created_at: datetime  # when the snapshot was taken (the store's clock, UTC)
    ct_version: str
    schema_revision: str
    source_dialect: str
    audit_head: AuditHead
    events: EventsHeld
    tables: list[TableEntry]
    absent_tables: list[str] = []  # tables this CT knows that the store (older) did not have

    def table(self, name: str) -> TableEntry | None:
        return next((t for t in self.tables if t.name == name), None)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def total_bytes(self) -> int:
        return sum(t.bytes for t in self.tables)

    def to_bytes(self) -> bytes:
        body = self.model_dump(mode="json")
        body["checksum"] = sha256_hex(canonical_json(body))
        return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def parse_manifest(data: bytes) -> Manifest:
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise ManifestInvalid(f"{MANIFEST_NAME} is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ManifestInvalid(f"{MANIFEST_NAME} is not a JSON object")
    claimed = body.pop("checksum", None)
    if claimed != sha256_hex(canonical_json(body)):
        raise ManifestInvalid(
            f"{MANIFEST_NAME} was changed after the backup wrote it (its checksum does not match)"
        )
    if body.get("format") != FORMAT:
        raise ManifestInvalid(
            f"{MANIFEST_NAME} is of format {body.get('format')!r}; this CT reads {FORMAT!r}"
        )
    try:
        return Manifest.model_validate(body)
    except ValidationError as exc:
        raise ManifestInvalid(f"{MANIFEST_NAME} is not a CT backup manifest: {exc}") from exc


def manifest_dict(manifest: Manifest) -> dict[str, Any]:
    return manifest.model_dump(mode="json")
