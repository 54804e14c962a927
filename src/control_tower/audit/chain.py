"""Append to and verify the audit chain.

Each row's hash covers its content and the previous row's hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from control_tower.kit.canonical import canonical_json, sha256_hex
from control_tower.models import audit_head, audit_log

GENESIS_HASH = "0" * 64


def row_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: Any,
    prev_hash: str,
) -> str:
    content = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "prev_hash": prev_hash,
    }
    return sha256_hex(canonical_json(content))


def append(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one audit row inside the caller's transaction and return its sequence number."""
    # Bumping the head row first takes its lock, so concurrent appends queue up in order.
    conn.execute(
        update(audit_head).where(audit_head.c.id == 1).values(last_seq=audit_head.c.last_seq + 1)
    )
    head = conn.execute(select(audit_head.c.last_seq, audit_head.c.last_hash)).one()
    seq, prev_hash = int(head.last_seq), str(head.last_hash)
    payload = details or {}
    digest = row_hash(seq, at, actor, action, target, payload, prev_hash)
    conn.execute(
        audit_log.insert().values(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            target=target,
            details=payload,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    conn.execute(update(audit_head).where(audit_head.c.id == 1).values(last_hash=digest))
    return seq


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(conn: Connection) -> VerifyResult:
    """Walk the whole chain; name the first row whose hash or link does not hold."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for row in conn.execute(select(audit_log).order_by(audit_log.c.seq)):
        count += 1
        if row.seq != expected_seq:
            return VerifyResult(False, count, row.seq, f"gap: expected row {expected_seq}")
        if row.prev_hash != prev:
            return VerifyResult(False, count, row.seq, "prev_hash does not match previous row")
        digest = row_hash(
            row.seq, row.at, row.actor, row.action, row.target, row.details, row.prev_hash
        )
        if digest != row.hash:
            return VerifyResult(False, count, row.seq, "content does not match its hash")
        prev = row.hash
        expected_seq += 1
    head = conn.execute(select(audit_head.c.last_seq, audit_head.c.last_hash)).one()
    if head.last_seq != count or (count and head.last_hash != prev):
        return VerifyResult(False, count, None, "chain tip does not match the head record")
    return VerifyResult(True, count)
