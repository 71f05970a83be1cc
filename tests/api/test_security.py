"""Issue #15: secrets stay out of URLs and logs; client addresses cannot be forged; a locked account
answers like a wrong password; the content policy allows no eval and no foreign connections; a database
that is down gives 503 at once and the API recovers by itself. Real app, real PostgreSQL, real sockets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import connect

from app.api.main import create_app
from app.config import Settings
from app.db.engine import make_engine
from app.services.users import create_user
from tests.live_servers import PASSWORD, free_port
from tests.waiting import wait_for

REPORT = "/api/v1/planning/report/index.html"
PROXY = "10.9.0.0/16"  # the in-process app's trusted proxies: the test transport's peer 10.9.8.7 is one


def _client(app, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 5555)), base_url="http://test")


@pytest_asyncio.fixture(scope="module")
async def app(demo_db):
    eng = make_engine(demo_db)
    async with eng.begin() as conn:
        await create_user(conn, "locky", "locky-password", "commander", "990100")
    await eng.dispose()
    app = create_app(Settings(demo_mode=True, trusted_proxies=PROXY), demo_db)
    async with app.router.lifespan_context(app):
        yield app


async def _token(app, user: str, password: str = PASSWORD, ip: str = "10.9.8.7") -> dict:
    async with _client(app, ip) as c:
        r = await c.post("/api/v1/auth/login", json={"username": user, "password": password},
                         headers={"X-Forwarded-For": f"192.0.2.{len(user)}"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


# -- 1. no bearer token in a query string ------------------------------------------------------------


async def test_http_ignores_a_token_in_the_query(app):
    tok = (await _token(app, "commander"))["Authorization"].split()[1]
    async with _client(app, "198.51.100.1") as c:
        assert (await c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tok}"})).status_code == 200
        assert (await c.get(f"/api/v1/auth/me?access_token={tok}")).status_code == 401


def test_websocket_refuses_a_token_in_the_url_and_takes_it_as_subprotocol(demo_db):
    with TestClient(create_app(Settings(demo_mode=True), demo_db)) as c:
        r = c.post("/api/v1/auth/login", json={"username": "commander", "password": PASSWORD})
        tok = r.json()["access_token"]
        with c.websocket_connect(f"/ws?access_token={tok}") as ws:
            assert orjson.loads(ws.receive_bytes())["code"] == "token_in_url"
            with pytest.raises(WebSocketDisconnect) as exc:
                ws.receive_bytes()
            assert exc.value.code == 1008  # policy violation
        with c.websocket_connect("/ws", subprotocols=["sharpeyes", f"bearer.{tok}"]) as ws:
            assert ws.accepted_subprotocol == "sharpeyes"  # the token is not echoed back
            assert orjson.loads(ws.receive_bytes()) == {"type": "hello", "user": "commander"}
        with c.websocket_connect("/ws") as ws:  # the browser's way: the first message
            ws.send_text(orjson.dumps({"type": "auth", "token": tok}).decode())
            assert orjson.loads(ws.receive_bytes())["type"] == "hello"


async def test_report_opens_with_a_one_time_ticket(app, demo_db):
    admin = await _token(app, "admin")
    async with _client(app, "198.51.100.2") as c:
        assert (await c.post("/api/v1/auth/ticket", json={"path": REPORT})).status_code == 401
        assert (await c.post("/api/v1/auth/ticket", json={"path": "/api/v1/users"}, headers=admin)).status_code == 422

        r = await c.post("/api/v1/auth/ticket", json={"path": REPORT}, headers=admin)
        assert r.status_code == 200 and r.json()["expires_in"] == 60
        ticket = r.json()["ticket"]
        page = await c.get(f"{REPORT}?mode=all&lang=en&ticket={ticket}")
        assert page.status_code == 200 and "<html" in page.text.lower()
        again = await c.get(f"{REPORT}?ticket={ticket}")
        assert again.status_code == 401  # used once

        other = (await c.post("/api/v1/auth/ticket", json={"path": REPORT}, headers=admin)).json()["ticket"]
        assert (await c.get(f"/api/v1/auth/me?ticket={other}")).status_code == 401  # bound to its page
        assert (await c.get(f"{REPORT}?ticket={other}")).status_code == 401  # and spent by that try

        late = (await c.post("/api/v1/auth/ticket", json={"path": REPORT}, headers=admin)).json()["ticket"]
        with psycopg.connect(demo_db, autocommit=True) as conn:  # its 60 s are over
            conn.execute("UPDATE auth_ticket SET expires_at = now() - interval '1 second'")
        assert (await c.get(f"{REPORT}?ticket={late}")).status_code == 401

        stale = (await c.post("/api/v1/auth/ticket", json={"path": REPORT}, headers=admin)).json()["ticket"]
        assert (await c.post("/api/v1/auth/logout", headers=admin)).status_code == 204
        assert (await c.get(f"{REPORT}?ticket={stale}")).status_code == 401  # logout revokes tickets too
    with psycopg.connect(demo_db) as conn:  # only digests are stored
        digests = [r[0] for r in conn.execute("SELECT digest FROM auth_ticket")]
    assert ticket not in digests and stale not in digests


# -- 3. X-Forwarded-For only from configured proxies -------------------------------------------------


def test_client_address_walks_only_trusted_hops():
    from app.services.security import client_address

    nets = Settings(demo_mode=True, trusted_proxies="10.0.0.0/8, ::1").trusted_proxy_networks
    assert client_address("203.0.113.5", ["1.2.3.4"], nets) == "203.0.113.5"  # not a proxy: header ignored
    assert client_address("10.0.0.1", ["1.2.3.4"], nets) == "1.2.3.4"
    assert client_address("10.0.0.1", ["6.6.6.6, 1.2.3.4, 10.0.0.2"], nets) == "1.2.3.4"  # forged hop left
    assert client_address("10.0.0.1", ["not-an-ip"], nets) == "10.0.0.1"
    assert client_address("10.0.0.1", [], nets) == "10.0.0.1"
    assert client_address("10.0.0.1", ["1.2.3.4"], ()) == "10.0.0.1"  # default: no proxies


async def test_audit_records_the_forwarded_address_only_from_a_proxy(app, demo_db):
    async with _client(app, "10.9.8.7") as via_proxy, _client(app, "203.0.113.9") as direct:
        await via_proxy.post("/api/v1/auth/login", json={"username": "xff-a", "password": "x" * 8},
                             headers={"X-Forwarded-For": "198.18.0.1"})
        await direct.post("/api/v1/auth/login", json={"username": "xff-b", "password": "x" * 8},
                          headers={"X-Forwarded-For": "198.18.0.2"})
    with psycopg.connect(demo_db) as conn:
        seen = dict(conn.execute("SELECT actor_name, client_ip FROM audit_event WHERE actor_name LIKE 'xff-%'"))
    assert seen == {"xff-a": "198.18.0.1", "xff-b": "203.0.113.9"}


# -- 4. a locked account answers like a wrong password -----------------------------------------------


async def test_locked_account_answers_like_a_wrong_password(app, demo_db):
    async with _client(app, "203.0.113.20") as c:
        async def attempt(user: str, password: str) -> tuple[int, bytes, str | None]:
            r = await c.post("/api/v1/auth/login", json={"username": user, "password": password})
            return r.status_code, r.content, r.headers.get("www-authenticate")

        wrong = await attempt("locky", "not-the-password")
        for _ in range(4):  # five failures lock the account
            await attempt("locky", "not-the-password")
        locked_wrong = await attempt("locky", "not-the-password")
        locked_right = await attempt("locky", "locky-password")
        unknown = await attempt("nobody-by-this-name", "not-the-password")
    assert wrong[0] == 401
    assert wrong == locked_wrong == locked_right == unknown
    with psycopg.connect(demo_db) as conn:  # the audit (not the caller) knows why
        reasons = [r[0] for r in conn.execute(
            "SELECT detail->>'reason' FROM audit_event WHERE actor_name = 'locky' ORDER BY id")]
    assert reasons[-3:] == ["wrong password; now locked", "locked", "locked"]


# -- 5. content security policy ------------------------------------------------------------------------


async def test_csp_has_no_eval_and_connects_only_to_self_and_media(demo_db):
    app = create_app(Settings(demo_mode=True, media_origins="http://10.1.2.3:8080"), demo_db)
    async with app.router.lifespan_context(app), _client(app, "198.51.100.3") as c:
        csp = (await c.get("/api/v1/health")).headers["content-security-policy"]
    rules = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert "'unsafe-eval'" not in csp
    assert rules["script-src"] == ["'self'", "blob:"]
    assert rules["connect-src"] == ["'self'", "http://10.1.2.3:8080"]  # 'self' covers ws(s) of our origin


# -- 6. database down: 503 at once, recovery by itself -----------------------------------------------


class PgProxy:
    """A TCP relay to PostgreSQL that can cut every connection and then refuse or swallow new ones
    (a stopped server / an unreachable host), and come back."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.mode = "up"
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Future] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        if self.mode != "up":
            return  # swallowed: the client waits for an answer that never comes
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers.add(up_writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        self.tasks.update((asyncio.ensure_future(pump(reader, up_writer)),
                           asyncio.ensure_future(pump(up_reader, writer))))

    def _cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def set(self, mode: str) -> None:
        self.mode = mode
        self._cut()
        if mode == "refuse":
            self.server.close()
        elif not self.server.is_serving():
            await self.start()


async def test_database_down_answers_503_at_once_and_recovers(db_url):
    url = make_url(db_url)
    proxy = PgProxy(url.host, url.port or 5432)
    await proxy.start()
    app = create_app(Settings(demo_mode=True), url.set(host="127.0.0.1", port=proxy.port)
                     .render_as_string(hide_password=False))
    async with app.router.lifespan_context(app):
        # The client gives up after 10 s: a request hanging on the database (asyncpg's default connect
        # timeout is 60 s) fails the test instead of stalling it.
        transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=10) as c:
            async def health() -> httpx.Response:
                return await asyncio.wait_for(c.get("/api/v1/health"), 10)

            assert (await health()).status_code == 200
            for mode in ("refuse", "swallow"):  # server stopped; host unreachable
                await proxy.set(mode)
                for _ in range(2):
                    r = await health()
                    assert r.status_code == 503, (mode, r.text)
                    assert r.headers["retry-after"].isdigit()
                    assert r.json()["error"]["code"] == "unavailable"
                await proxy.set("up")
                assert (await health()).status_code == 200  # back by itself, no restart
    await proxy.set("refuse")


# -- 2. and 3. on a real server process: access logs, forged X-Forwarded-For ---------------------------


@pytest.fixture(scope="module")
def served(demo_db, tmp_path_factory):
    """``sharpeyes serve`` as deployed: access log on (not demo mode), no trusted proxies."""
    port = free_port()
    log_path = Path(tmp_path_factory.mktemp("serve")) / "server.log"
    env = {**os.environ, "DATABASE_URL": demo_db, "SHARPEYES_DEMO_MODE": "0", "SHARPEYES_HOST": "127.0.0.1",
           "SHARPEYES_PORT": str(port), "SHARPEYES_SECRET_KEY": "s" * 40, "SHARPEYES_LOGIN_PER_MINUTE": "1",
           "SHARPEYES_DEVICE_TOKEN": "device-secret-0123456789"}
    env.pop("REDIS_URL", None)
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, stdout=log, stderr=log,
                                cwd=Path(__file__).resolve().parents[2])
        try:

            def healthy() -> bool:
                try:
                    return httpx.get(base + "/api/v1/health", timeout=1).status_code == 200
                except httpx.HTTPError:
                    assert proc.poll() is None, log_path.read_text()
                    return False

            wait_for(healthy, timeout=120, interval=0.3, what="the server to come up")
            yield base, log_path
        finally:
            proc.terminate()
            proc.wait(20)


def test_forged_forwarded_for_does_not_dodge_the_login_limit(served):
    base, _ = served
    codes = [httpx.post(base + "/api/v1/auth/login", json={"username": "nobody", "password": "x" * 8},
                        headers={"X-Forwarded-For": f"198.18.1.{i}"}, timeout=10).status_code
             for i in range(12)]
    assert codes[0] == 401 and codes[-1] == 429, codes  # one bucket: the socket's address


def test_access_log_shows_no_secret(served):
    base, log_path = served
    secrets = {"tok": "eyJBEARER.SECRET.one", "ticket": "TICKETSECRET2", "device": "device-secret-0123456789"}
    httpx.get(f"{base}/api/v1/auth/me?access_token={secrets['tok']}", timeout=10)
    httpx.get(f"{base}/api/v1/planning/report/index.html?ticket={secrets['ticket']}", timeout=10)
    httpx.get(f"{base}/ingest/osmand?id=sec-dev&lat=60.17&lon=24.94&token={secrets['device']}", timeout=10)
    with connect(base.replace("http", "ws") + f"/ws?access_token={secrets['tok']}") as ws:
        assert orjson.loads(ws.recv(timeout=10))["code"] == "token_in_url"
    httpx.get(f"{base}/api/v1/health?marker=end-of-test", timeout=10)
    # the access line is written just after the response
    wait_for(lambda: "end-of-test" in log_path.read_text(), timeout=10, interval=0.1, what="the access line")
    text = log_path.read_text()
    assert "/auth/me?access_token=[redacted]" in text, text[-3000:]
    assert "WebSocket /ws?access_token=[redacted]" in text
    leaked = [name for name, value in secrets.items() if value in text]
    assert leaked == [], leaked
