"""`ct-producer`: deliver a spool (`flush`) or send one event (`send`) from a shell.

The URL, token and secret default to $CT_URL, $CT_TOKEN and $CT_SECRET, so they need not
appear on a command line (where other users of the machine can see them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ct_producer._errors import CTError
from ct_producer._producer import Producer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ct-producer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    flush = commands.add_parser("flush", help="deliver the events waiting in a spool")
    flush.add_argument("--spool", required=True, help="the spool directory")
    send = commands.add_parser("send", help="send one event (through a spool if --spool)")
    send.add_argument("--type", required=True, help="event type, e.g. ci.workflow.failed")
    send.add_argument("--source", required=True, help="the source the token is bound to")
    send.add_argument("--payload", default="{}", help="the payload as a JSON object")
    send.add_argument("--event-id", help="idempotency key (default: a new ULID)")
    send.add_argument("--correlation-id")
    send.add_argument("--spool", help="spool the event first (kept if CT is unreachable)")
    for command in (flush, send):
        command.add_argument("--url", default=os.environ.get("CT_URL"), help="default $CT_URL")
        command.add_argument(
            "--token", default=os.environ.get("CT_TOKEN"), help="default $CT_TOKEN"
        )
        command.add_argument(
            "--secret", default=os.environ.get("CT_SECRET"), help="default $CT_SECRET"
        )
        command.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt")
        command.add_argument("--max-attempts", type=int, default=5)
    return parser


def _print(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when everything was delivered (or, for `send --spool`, safely spooled), 1 when
    something failed or, for `flush`, events remain, 2 on a usage error."""
    parser = _parser()
    args = parser.parse_args(argv)
    missing = [name for name in ("url", "token", "secret") if not getattr(args, name)]
    if missing:
        parser.error(
            f"missing {', '.join('--' + m for m in missing)} (or $CT_URL, $CT_TOKEN, $CT_SECRET)"
        )
    producer = Producer(
        args.url,
        args.token,
        args.secret,
        source=getattr(args, "source", None),
        timeout=args.timeout,
        spool_dir=args.spool,
        max_attempts=args.max_attempts,
    )
    try:
        with producer:
            if args.command == "flush":
                report = producer.flush()
                _print(
                    {
                        "delivered": report.delivered,
                        "rejected": report.rejected,
                        "remaining": report.remaining,
                    }
                )
                return 1 if report.remaining else 0
            payload = json.loads(args.payload)
            if not isinstance(payload, dict):
                parser.error("--payload must be a JSON object")
            result = producer.send(
                args.type, payload, event_id=args.event_id, correlation_id=args.correlation_id
            )
            _print(
                {
                    "event_id": result.event_id,
                    "status_code": result.status_code,
                    "duplicate": result.duplicate,
                    "spooled": result.spooled,
                }
            )
            return 0
    except (CTError, ValueError) as error:
        sys.stderr.write(f"ct-producer: {error}\n")
        return 1
