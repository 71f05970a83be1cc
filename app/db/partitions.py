"""Daily partitions of ``position``: created ahead by the app, dropped whole past retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PREFIX = "position_p"


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


async def ensure_partitions(conn: AsyncConnection, first: date | None = None, days: int = 3) -> list[str]:
    """Create the partitions for ``first`` (default: yesterday, for late fixes) and the days after."""
    first = first or (datetime.now(UTC).date() - timedelta(days=1))
    made = []
    for i in range(days + 1):
        day = first + timedelta(days=i)
        name = partition_name(day)
        # IF NOT EXISTS keeps concurrent API processes from racing each other into an error.
        await conn.execute(text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF position "
            f"FOR VALUES FROM ('{day.isoformat()} 00:00+00') TO ('{(day + timedelta(days=1)).isoformat()} 00:00+00')"
        ))
        made.append(name)
    return made


async def list_partitions(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'position' ORDER BY 1"))
    return [r[0] for r in rows]


async def drop_expired(conn: AsyncConnection, retention_days: int, today: date | None = None) -> list[str]:
    """Drop partitions whose whole day is older than the retention: no row-by-row DELETE."""
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
    dropped = []
    for name in await list_partitions(conn):
        day = datetime.strptime(name[len(PREFIX):], "%Y%m%d").date()
        if day < cutoff:
            await conn.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped
