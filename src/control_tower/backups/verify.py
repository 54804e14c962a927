"""Check a backup without a store: the manifest's own checksum, each file's sha256, size and
row count, and the audit chain inside the exported audit rows (every link and every row's hash,
ending at the head the manifest and the exported `audit_head` name)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from control_tower.audit.chain import GENESIS_HASH, row_hash
from control_tower.backups.codec import FileDamaged, decode_line, read_lines
from control_tower.backups.destination import Location
from control_tower.backups.manifest import Manifest, ManifestInvalid, TableEntry
from control_tower.kit.errors import CTError
from control_tower.models import audit_head, audit_log


class BackupInvalid(CTError):
    status_code = 422
    code = "backup_invalid"


@dataclass
class TableCheck:
    name: str
    rows: int
    problem: str | None = None


@dataclass
class Verification:
    location: Location
    manifest: Manifest | None
    tables: list[TableCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.manifest is not None and not self.problems

    def raise_if_invalid(self) -> Manifest:
        if not self.ok or self.manifest is None:
            raise BackupInvalid(
                f"backup {self.location.url} is not intact: " + "; ".join(self.problems)
            )
        return self.manifest


class ChainWalk:
    """Fed the audit rows in order; names the first one whose link or hash does not hold."""

    def __init__(self) -> None:
        self.prev = GENESIS_HASH
        self.rows = 0
        self.problem: str | None = None

    def add(self, row: dict[str, Any]) -> None:
        if self.problem is not None:
            return
        self.rows += 1
        seq = row["seq"]
        if seq != self.rows:
            self.problem = f"audit row {seq}: gap, expected row {self.rows}"
        elif row["prev_hash"] != self.prev:
            self.problem = f"audit row {seq}: prev_hash does not match the previous row"
        elif row["hash"] != row_hash(
            seq, datetime.fromisoformat(row["at"]), row["actor"], row["action"], row["target"],
            row["details"], row["prev_hash"],
        ):  # fmt: skip
            self.problem = f"audit row {seq}: content does not match its hash"
        self.prev = row["hash"]


def table_rows(folder: Location, entry: TableEntry) -> tuple[Iterator[dict[str, Any]], Any]:
    """Decoded rows of one table's file, and the reader whose hash is complete at the end."""
    raw = folder.open(entry.file, "rb")
    lines, reader = read_lines(raw)

    def rows() -> Iterator[dict[str, Any]]:
        with raw:
            for line in lines:
                yield decode_line(line)

    return rows(), reader


def check_file(
    folder: Location, entry: TableEntry, each: Callable[[dict[str, Any]], None] | None = None
) -> TableCheck:
    """One table's file against its manifest entry; `each` sees every decoded row."""
    count = 0
    try:
        rows, reader = table_rows(folder, entry)
        for row in rows:
            count += 1
            if each is not None:
                each(row)
    except FileNotFoundError:
        return TableCheck(entry.name, count, f"{entry.file} is missing")
    except (FileDamaged, ValueError, KeyError, TypeError) as exc:
        return TableCheck(entry.name, count, f"{entry.file} is damaged: {exc}")
    if count != entry.rows:
        return TableCheck(
            entry.name, count, f"{entry.file} holds {count} rows, the manifest says {entry.rows}"
        )
    if reader.sha256.hexdigest() != entry.sha256 or reader.bytes != entry.bytes:
        return TableCheck(entry.name, count, f"{entry.file} differs from the manifest (sha256)")
    return TableCheck(entry.name, count)


def verify_backup(folder: Location) -> Verification:
    try:
        manifest = folder.read_manifest()
    except ManifestInvalid as exc:
        return Verification(folder, None, problems=[str(exc)])
    result = Verification(folder, manifest)
    chain = ChainWalk()
    heads: list[dict[str, Any]] = []
    for entry in manifest.tables:
        watchers = {audit_log.name: chain.add, audit_head.name: heads.append}
        check = check_file(folder, entry, watchers.get(entry.name))
        result.tables.append(check)
        if check.problem:
            result.problems.append(check.problem)
    if not result.problems:
        result.problems += _audit_problems(manifest, chain, heads)
    return result


def _audit_problems(manifest: Manifest, chain: ChainWalk, heads: list[dict[str, Any]]) -> list[str]:
    if manifest.table(audit_log.name) is None or manifest.table(audit_head.name) is None:
        return ["the backup has no audit log"]
    if chain.problem:
        return [f"audit chain broken: {chain.problem}"]
    claimed = manifest.audit_head
    if (chain.rows, chain.prev) != (claimed.last_seq, claimed.last_hash):
        return ["audit chain tip does not match the manifest's audit head"]
    if [(h["last_seq"], h["last_hash"]) for h in heads] != [(claimed.last_seq, claimed.last_hash)]:
        return ["the exported audit_head row does not match the manifest"]
    return []
