"""Async engine and sessions (asyncpg); a sync URL for Alembic (psycopg)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    u = make_url(url)
    return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    u = make_url(url)
    return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def make_engine(url: str, **kw) -> AsyncEngine:
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 10)
    kw.setdefault("pool_pre_ping", True)
    return create_async_engine(async_url(url), **kw)


def make_read_engine(url: str, **kw) -> AsyncEngine:
    """The pool of a read replica (``DATABASE_READ_URL``). Its sessions are read-only even on a server that
    would accept writes (a logical copy, a test's cloned database): a write sent there by mistake fails
    loudly instead of landing on a copy nobody else reads."""
    connect_args = dict(kw.pop("connect_args", {}))
    connect_args["server_settings"] = {**connect_args.get("server_settings", {}),
                                       "default_transaction_read_only": "on"}
    return make_engine(url, connect_args=connect_args, **kw)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with maker() as session:
        yield session
