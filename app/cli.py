"""`sharpeyes serve | demo | simulate [checkpoints] | db upgrade|check | load osm|divisions|cameras |
users create | audit verify`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
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


def _serve(settings: Settings, url: str, workers: int = 1) -> None:
    import uvicorn

    from app.api.main import create_app

    async def _roles(conn):
        from app.services.users import ensure_roles

        await ensure_roles(conn)

    asyncio.run(_with_conn(url, _roles))
    # No per-request access log in the demo: a dozen simulated cars report every second.
    options = dict(host=settings.host, port=settings.port, log_level="info",
                   access_log=not settings.demo_mode, ws_max_size=1 << 20,
                   # The platform decides whose X-Forwarded-For it believes (SHARPEYES_TRUSTED_PROXIES), not
                   # uvicorn, which believes any local process: rate limits keyed on a header are dodged.
                   proxy_headers=False,
                   ws_per_message_deflate=False)  # see tests/live_servers.py
    if workers > 1:
        # Each worker process imports the app (settings from the environment) and runs its own lifespan:
        # its own Runtime, meeting the others on the Redis bus.
        os.environ["DATABASE_URL"] = url
        uvicorn.run("app.api.asgi:app", workers=workers, **options)
    else:
        uvicorn.run(create_app(settings, url), **options)


def cmd_serve(args, settings: Settings) -> int:
    if args.workers > 1 and not settings.redis_url:
        print("configuration error: --workers needs REDIS_URL: each worker is a process of its own, "
              "they meet on the Redis bus", file=sys.stderr)
        return 2
    with database(settings) as url:
        _migrate(url)
        _serve(settings, url, args.workers)
    return 0


def _simulate_in_background(settings: Settings, url: str, units: int) -> None:
    """The demo's live movement: simulated patrol cars report over OsmAnd HTTP once the server answers."""
    import threading

    import httpx

    from app.simulator.run import simulate

    base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"

    def run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        try:
            asyncio.run(simulate(url, units=units, protocol="osmand", url=base, token=settings.device_token))
        except Exception:
            log.exception("demo simulator stopped")

    threading.Thread(target=run, name="demo-simulator", daemon=True).start()


def cmd_simulate(args, settings: Settings) -> int:
    from app.simulator.run import simulate

    if args.what == "checkpoints":
        return _simulate_checkpoints(args, settings)
    url = settings.database_url
    if not url:
        print("simulate needs DATABASE_URL (the database of the server it reports to: it registers its units "
              "and routes on the road graph)", file=sys.stderr)
        return 2
    server = args.url or f"http://{settings.host}:{settings.port}"
    try:
        stats = asyncio.run(simulate(url, units=args.units, protocol=args.protocol, url=server,
                                     host=args.host or settings.host, port=args.port or settings.jt808_port,
                                     seconds=args.seconds, interval_s=args.interval,
                                     token=args.token or settings.device_token, seed=args.seed))
    except KeyboardInterrupt:
        return 0
    except (OSError, RuntimeError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    print(f"{args.units} units, {stats.sent} reports sent, {stats.acknowledged} acknowledged, {stats.failed} failed")
    return 0 if stats.failed == 0 else 1


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
        if not args.no_serve and args.units > 0:
            print(f"  {args.units} simulated patrol cars report over OsmAnd HTTP (--units 0 to turn off)")
        sys.stdout.flush()
        if not args.no_serve:
            if args.units > 0:
                _simulate_in_background(settings, url, args.units)
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
    from app.domain.access import TOP_SECRECY
    from app.domain.errors import DomainError
    from app.services.users import create_user

    password = os.environ.get("SHARPEYES_NEW_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    role = "admin" if args.admin else args.role

    with database(settings) as url:
        _migrate(url)
        try:
            user_id = asyncio.run(_with_conn(url, lambda c: create_user(
                c, args.username, password, role, args.division,
                max_secrecy=TOP_SECRECY if role == "admin" else 0)))
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


def _simulate_checkpoints(args, settings: Settings) -> int:
    from app.ingest.gb28181.settings import Gb28181Settings
    from app.simulator.checkpoints import simulate_checkpoints

    url = settings.database_url
    password = args.password or Gb28181Settings().password
    if not url or not password:
        print("simulate checkpoints needs DATABASE_URL (it places the checkpoints on the road graph) and "
              "--password (the admitted device's, or the platform-wide SHARPEYES_GB_PASSWORD)", file=sys.stderr)
        return 2
    base = args.base or args.url or f"http://{settings.host}:{settings.port}"
    try:
        stats = asyncio.run(simulate_checkpoints(
            base, url, args.id, password, count=args.checkpoints, plates=args.plates, rate=args.rate,
            seconds=args.seconds, kmh=args.kmh, spacing_m=args.spacing, seed=args.seed))
    except KeyboardInterrupt:
        return 0
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"checkpoint simulator: {exc}", file=sys.stderr)
        return 1
    print(f"{stats.registered} checkpoints, {stats.sent} passes sent, {stats.accepted} accepted, "
          f"{stats.refused} refused; plates {' '.join(stats.plates)}")
    return 0 if stats.refused == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sharpeyes", description="SharpEyes GIS command platform")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the platform")
    serve.add_argument("--role", choices=["all", "api", "ingest"],
                       help="what this process runs (default SHARPEYES_ROLE, else all): api = HTTP, websockets, "
                            "HTTP ingest; ingest = JT/T 808, SIP, writer; split roles need REDIS_URL")
    serve.add_argument("--workers", type=int, default=1,
                       help="uvicorn worker processes sharing the HTTP port (needs REDIS_URL; for --role api)")
    demo = sub.add_parser("demo", help="load the demo city and run the platform")
    demo.add_argument("--no-serve", action="store_true", help="load and exit")
    demo.add_argument("--units", type=int, default=12, help="simulated patrol cars driving (0: none)")
    sim = sub.add_parser("simulate", help="drive patrol units on the road graph, reporting to a running server; "
                                          "'simulate checkpoints': GA/T 1400 checkpoints uploading passes")
    sim.add_argument("what", nargs="?", choices=["units", "checkpoints"], default="units")
    sim.add_argument("--units", type=int, default=12)
    sim.add_argument("--protocol", choices=["osmand", "jt808"], default="osmand")
    sim.add_argument("--url", help="OsmAnd: the server's base URL (default http://SHARPEYES_HOST:SHARPEYES_PORT)")
    sim.add_argument("--host", help="JT/T 808: server host (default SHARPEYES_HOST)")
    sim.add_argument("--port", type=int, help="JT/T 808: server port (default SHARPEYES_JT808_PORT)")
    sim.add_argument("--seconds", type=float, help="stop after this long (default: run until interrupted)")
    sim.add_argument("--interval", type=float, default=1.0, help="seconds between two fixes of a unit")
    sim.add_argument("--token", help="device token, if the server requires one for unregistered devices")
    sim.add_argument("--seed", type=int)
    cp = sim.add_argument_group("checkpoints (GA/T 1400)")
    cp.add_argument("--base", help="the platform's base URL (default --url, else http://SHARPEYES_HOST:SHARPEYES_PORT)")
    cp.add_argument("--id", default="34020000001190000001",
                    help="20-digit device id of the first checkpoint; the others count up from it")
    cp.add_argument("--password", help="digest password: the admitted devices' or the platform-wide one "
                                       "(default SHARPEYES_GB_PASSWORD)")
    cp.add_argument("--checkpoints", type=int, default=4, help="how many checkpoints along one road route")
    cp.add_argument("--plates", type=int, default=3, help="how many cars drive between them")
    cp.add_argument("--rate", type=float, default=5.0, help="passes per second at most")
    cp.add_argument("--kmh", type=float, default=50.0, help="the cars' speed along the road")
    cp.add_argument("--spacing", type=float, default=300.0, help="metres of road between two checkpoints")
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


COMMANDS = {"serve": cmd_serve, "demo": cmd_demo, "simulate": cmd_simulate, "db": cmd_db, "load": cmd_load,
            "users": cmd_users, "audit": cmd_audit}


def _exit_on_sigterm(signum, _frame) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down gracefully; with the default handler the
    # process would then die on the spot, skipping the ``finally`` that stops the embedded cluster.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "demo":
        os.environ.setdefault("SHARPEYES_DEMO_MODE", "1")
    if args.command == "serve" and args.role:
        os.environ["SHARPEYES_ROLE"] = args.role  # checked with the rest of the settings (REDIS_URL)
    try:
        settings = Settings()
    except ValueError as exc:
        # A settings check's own sentence (pydantic's errors() strips its wrapping), else the whole error.
        reasons = [e["msg"].removeprefix("Value error, ") for e in exc.errors()] if hasattr(exc, "errors") else [exc]
        print("configuration error: " + "; ".join(map(str, reasons)), file=sys.stderr)
        return 2
    return COMMANDS[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
