"""Shared by the benchmarks: a demo-city database and an API process, process CPU/RSS from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_servers import ApiProcess, token  # noqa: E402

ADMIN = os.environ.get("SHARPEYES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def throwaway_database():
    """A freshly migrated database, dropped afterwards."""
    from app.db import migrate

    name = f"se_bench_{uuid.uuid4().hex[:8]}"
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def demo_database():
    """$DATABASE_URL if set (must hold the demo city), else a throw-away database with it loaded."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    from app.db.engine import make_engine
    from app.services.demo import load_demo

    with throwaway_database() as url:
        async def _load():
            engine = make_engine(url)
            async with engine.begin() as conn:
                await load_demo(conn)
            await engine.dispose()

        asyncio.run(_load())
        yield url


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


__all__ = ["ApiProcess", "cpu_seconds", "demo_database", "rss_mb", "token"]
