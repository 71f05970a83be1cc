"""`sharpeyes serve | demo | db upgrade|check | load osm|divisions|cameras | users create | audit verify`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from app.config import Settings

log = logging.getLogger("sharpeyes")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set; otherwise the embedded cluster under data_dir, stopped on exit."""
    if settings.database_url:
        yield settings.database_url
        return
    from app.db.embedded import embedded

    with embedded(settings.data_dir, settings.embedded_port) as url:
        yield url


def _migrate(url: str) -> None:
    from app.db import migrate

    migrate.upgrade(url)


async def _with_conn(url: str, fn):
    from app.db.engine import make_engine

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            result = await fn(conn)
            await conn.commit()
            return result
    finally:
        await engine.dispose()


def _serve(settings: Settings, url: str) -> None:
    import uvicorn

    from app.api.main import create_app

    async def _roles(conn):
        from app.services.users import ensure_roles

        await ensure_roles(conn)

    asyncio.run(_with_conn(url, _roles))
    uvicorn.run(create_app(settings, url), host=settings.host, port=settings.port, log_level="info",
                ws_max_size=1 << 20, ws_per_message_deflate=False)  # see tests/live_servers.py


def cmd_serve(args, settings: Settings) -> int:
    with database(settings) as url:
        _migrate(url)
        _serve(settings, url)
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from app.services.demo import DEMO_PASSWORD, DEMO_USERS, load_demo

    started = time.monotonic()
    with database(settings) as url:
        _migrate(url)
        reports = asyncio.run(_with_conn(url, load_demo))
        for r in reports:
            print(r.summary())
        print(f"\nSharpEyes demo ready in {time.monotonic() - started:.1f} s: http://{settings.host}:{settings.port}/")
        print("  pages: /wall  /dispatch  /planning  /m  /admin   API docs: /docs")
        print(f"  demo accounts (password '{DEMO_PASSWORD}'):")
        for username, role, division in DEMO_USERS:
            print(f"    {username:<12} {role:<11} division {division}")
        sys.stdout.flush()
        if not args.no_serve:
            _serve(settings, url)
    return 0


def cmd_db(args, settings: Settings) -> int:
    from app.db import migrate

    with database(settings) as url:
        if args.action == "upgrade":
            migrate.upgrade(url)
            print("database at head")
        else:
            migrate.check(url)
            print("no drift between models and database")
    return 0


def cmd_load(args, settings: Settings) -> int:
    from app.services.loaders import files, osm
    from app.services.loaders.report import FileRejected

    path = Path(args.file)
    if not path.exists():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    column_map = dict(kv.split("=", 1) for kv in (args.map or []))

    async def _load(conn):
        if args.kind == "osm":
            return await osm.load_osm(conn, path)
        if args.kind == "divisions":
            return await files.load_divisions(conn, path, args.crs)
        return await files.load_cameras(conn, path, args.crs, column_map)

    with database(settings) as url:
        _migrate(url)
        try:
            report = asyncio.run(_with_conn(url, _load))
        except FileRejected as exc:
            print(f"rejected, nothing loaded: {exc}", file=sys.stderr)
            return 1
    print(report.summary())
    return 0


def cmd_users(args, settings: Settings) -> int:
    from app.domain.errors import DomainError
    from app.services.users import create_user

    password = os.environ.get("SHARPEYES_NEW_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    role = "admin" if args.admin else args.role

    with database(settings) as url:
        _migrate(url)
        try:
            user_id = asyncio.run(_with_conn(url, lambda c: create_user(c, args.username, password, role,
                                                                          args.division)))
        except DomainError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
    print(f"user {args.username} (id {user_id}) created with role {role} on division {args.division}")
    return 0


def cmd_audit(args, settings: Settings) -> int:
    from app.services import audit

    with database(settings) as url:
        problems = asyncio.run(_with_conn(url, audit.verify))
    if problems:
        print("AUDIT TRAIL TAMPERED:")
        for p in problems:
            print(f"  {p}")
        return 1
    print("audit trail intact")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sharpeyes", description="SharpEyes GIS command platform")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the platform")
    demo = sub.add_parser("demo", help="load the demo city and run the platform")
    demo.add_argument("--no-serve", action="store_true", help="load and exit")
    db = sub.add_parser("db", help="schema migrations")
    db.add_argument("action", choices=["upgrade", "check"])
    load = sub.add_parser("load", help="load data files")
    load.add_argument("kind", choices=["osm", "divisions", "cameras"])
    load.add_argument("file")
    load.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], default="wgs84")
    load.add_argument("--map", nargs="*", metavar="FIELD=COLUMN",
                      help="camera column map, e.g. lon=X lat=Y name=Title id=DeviceID")
    users = sub.add_parser("users", help="user administration")
    users.add_argument("action", choices=["create"])
    users.add_argument("username")
    users.add_argument("--admin", action="store_true", help="administrator of everything")
    users.add_argument("--role", default="dispatcher")
    users.add_argument("--division", default="000000")
    audit = sub.add_parser("audit", help="audit trail")
    audit.add_argument("action", choices=["verify"])
    return p


COMMANDS = {"serve": cmd_serve, "demo": cmd_demo, "db": cmd_db, "load": cmd_load, "users": cmd_users,
            "audit": cmd_audit}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "demo":
        os.environ.setdefault("SHARPEYES_DEMO_MODE", "1")
    try:
        settings = Settings()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return COMMANDS[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
