"""Test fixtures against a real PostgreSQL + PostGIS + pgRouting.

A template database is migrated once per session with Alembic; each test module gets a fresh copy
(``CREATE DATABASE … TEMPLATE``), so modules never share state. The server is
``SHARPEYES_TEST_PG`` (default: the machine's PostgreSQL on 127.0.0.1:5432, trust auth).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

from app.db import migrate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ADMIN = os.environ.get("SHARPEYES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("SHARPEYES_DEMO_MODE", "1")


def _url(db: str) -> str:
    base = ADMIN.rsplit("/", 1)[0]
    return f"{base}/{db}"


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def template_db() -> str:
    name = f"se_tmpl_{uuid.uuid4().hex[:10]}"
    _admin(f"CREATE DATABASE {name}")
    try:
        migrate.upgrade(_url(name))
        yield name
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fresh_db(template: str) -> str:
    name = f"se_t_{uuid.uuid4().hex[:10]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    return name


@pytest.fixture(scope="module")
def db_url(template_db: str):
    """URL of a freshly migrated database for this test module."""
    name = fresh_db(template_db)
    try:
        yield _url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def shared_data() -> Path:
    assert SHARED.is_dir(), f"tests need ../shared/data next to the repository ({SHARED})"
    return SHARED


@pytest.fixture(scope="session")
def demo_template(template_db: str) -> str:
    """A migrated database with the demo city loaded once per session (loading takes ~15 s)."""
    import asyncio

    from app.db.engine import make_engine
    from app.services.demo import load_demo

    name = fresh_db(template_db)

    async def _load() -> None:
        engine = make_engine(_url(name))
        async with engine.begin() as conn:
            await load_demo(conn)
        await engine.dispose()

    try:
        asyncio.run(_load())
        yield name
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def demo_db_url(demo_template: str):
    """URL of a fresh copy of the demo city for this test module."""
    name = fresh_db(demo_template)
    try:
        yield _url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
