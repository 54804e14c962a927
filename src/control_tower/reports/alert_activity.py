"""How many alerts fired, were acknowledged and were resolved in a period: the digest's one
read of the alerts feature, kept in this small provider so alerts/ can change how it is
counted without touching the digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from control_tower.models import alerts
from control_tower.reports.schemas import AlertActivity


def alert_activity(conn: Connection, start: datetime, end: datetime) -> AlertActivity:
    def count(column: str) -> int:
        at = alerts.c[column]
        query = select(func.count()).select_from(alerts).where(at >= start, at < end)
        return int(conn.execute(query).scalar_one())

    return AlertActivity(
        fired=count("started_at"),
        acknowledged=count("acknowledged_at"),
        resolved=count("resolved_at"),
    )
