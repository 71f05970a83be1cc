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


def _find_shared() -> Path:
    """``shared/data`` beside the clone (CI), or beside any parent (git worktrees); SHARPEYES_SHARED_DATA wins."""
    if os.environ.get("SHARPEYES_SHARED_DATA"):
        return Path(os.environ["SHARPEYES_SHARED_DATA"])
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return Path(__file__).resolve().parents[2] / "shared" / "data"


SHARED = _find_shared()
ADMIN = os.environ.get("SHARPEYES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("SHARPEYES_DEMO_MODE", "1")
# No JT/T 808 listener on the fixed default port: modules run in parallel; tests that want one pick a port.
os.environ.setdefault("SHARPEYES_JT808_PORT", "0")
os.environ.setdefault("SHARPEYES_GB_PORT", "0")  # each app in the tests runs its SIP server on a free port
os.environ.setdefault("SHARPEYES_GB_PASSWORD", "gb-test-password")


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


# -- API fixtures ------------------------------------------------------------------------------
import httpx  # noqa: E402
import pytest_asyncio  # noqa: E402

from app.config import Settings  # noqa: E402


@pytest.fixture(scope="module")
def demo_db(demo_db_url: str) -> str:
    """The module's own copy of the demo city and demo accounts."""
    return demo_db_url


@pytest_asyncio.fixture(scope="module")
async def api(demo_db: str):
    """An httpx client on the real app (lifespan run) over the demo database."""
    from app.api.main import create_app

    app = create_app(Settings(demo_mode=True), demo_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            client.app = app
            yield client


_TOKENS: dict[tuple[int, str], dict] = {}


async def login(client: httpx.AsyncClient, username: str, password: str = "sharpeyes-demo",
                fresh: bool = False) -> dict:
    """Bearer header for a user; cached per client (the login endpoint is rate-limited, as it should be)."""
    key = (id(client), username)
    if fresh or key not in _TOKENS:
        r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        _TOKENS[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _TOKENS[key]


_LAYERS = ("domain", "ingest", "services", "api", "realtime", "browser")


def pytest_collection_modifyitems(items) -> None:
    """Each test is marked with the folder it lives in (tests/<layer>/…), as the code's layers are. Under
    pytest-xdist the browser tests come first: they are the longest run of one worker (below)."""
    for item in items:
        layer = item.path.parent.name
        if layer in _LAYERS:
            item.add_marker(getattr(pytest.mark, layer))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda i: i.path.parent.name != "browser")  # stable: modules stay whole


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs on 2 workers (``-n 2``): each test module goes whole to one worker (its database
    and app are built once), and the browser tests all go to the same worker, one after the other (two
    Chromiums with their servers on 2 cores starve each other's animation frames)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesBrowserTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/browser" if nodeid.startswith("tests/browser/") else nodeid.split("::", 1)[0]

    return ModulesBrowserTogether(config, log)
