"""Position retention: whole day partitions are created ahead and dropped past the retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.partitions import drop_expired, ensure_partitions


@dataclass(frozen=True)
class RetentionRun:
    created: list[str]
    dropped: list[str]


async def enforce_retention(
    conn: AsyncConnection, retention_days: int, *, today: date | None = None, ahead_days: int = 3
) -> RetentionRun:
    """Create the partitions from yesterday to ``ahead_days`` ahead; drop those older than retention.

    Run it daily (and at start-up). Dropping a partition is O(1) and leaves no bloat, unlike DELETE.
    """
    if retention_days < 1:
        raise ValueError("retention_days must be ≥ 1")
    today = today or datetime.now(UTC).date()
    created = await ensure_partitions(conn, first=today - timedelta(days=1), days=ahead_days + 1)
    dropped = await drop_expired(conn, retention_days, today=today)
    return RetentionRun(created, dropped)
