"""Helpers for tests that need real API processes (uvicorn subprocesses) and websocket clients."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "sharpeyes-demo"
# A bound on start-up, not a speed check: under a loaded CI machine several processes importing the app at
# once on two cores took over 60 s; a healthy start returns as soon as /health answers.
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiProcess:
    """``uvicorn app.api.asgi:app`` in a subprocess, stoppable and restartable on the same port."""

    def __init__(self, db_url: str, port: int | None = None, redis_url: str | None = None,
                 bus_prefix: str | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": db_url, "SHARPEYES_DEMO_MODE": "1", "PYTHONPATH": str(ROOT)}
        self.env.pop("REDIS_URL", None)
        # Our own Redis channels: other test runs on the same Redis must not reach these processes.
        self.bus_prefix = bus_prefix or new_bus_prefix()
        self.env["SHARPEYES_BUS_PREFIX"] = self.bus_prefix
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.api.asgi:app",
                                      "--host", "127.0.0.1", "--port", str(self.port),
                                      "--log-level", "warning", "--no-proxy-headers",
                                      # The same live frame goes to many clients: compressing it once per
                                      # client costs more CPU than the LAN bandwidth it saves.
                                      "--ws-per-message-deflate", "false"], cwd=ROOT, env=self.env)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(self.base + "/api/v1/health", timeout=5).status_code == 200:
                    return self.base
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"API process on port {self.port} did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def new_bus_prefix() -> str:
    return f"se-test-{uuid.uuid4().hex[:8]}:"


@contextlib.contextmanager
def api_process(db_url: str, port: int | None = None, redis_url: str | None = None,
                bus_prefix: str | None = None):
    """Run the API in a subprocess for the ``with`` block; yields its base URL."""
    proc = ApiProcess(db_url, port, redis_url, bus_prefix)
    try:
        yield proc.start()
    finally:
        proc.stop()


def token(base: str, user: str) -> str:
    r = httpx.post(base + "/api/v1/auth/login", json={"username": user, "password": PASSWORD}, timeout=10)
    r.raise_for_status()
    return r.json()["access_token"]


def recv_until(ws, kind: str, timeout: float = 5.0) -> dict:
    """Next frame of a type, skipping keepalives and other types."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {kind} frame within {timeout}s")
        frame = orjson.loads(ws.recv(timeout=left))
        if frame["type"] == kind:
            return frame


class StalledClient:
    """A websocket client on a raw socket with a tiny receive buffer, so it can stop reading for real
    (client libraries keep reading in the background)."""

    def __init__(self, base: str, tok: str) -> None:
        import base64
        import os as _os

        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(_os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\n"
                           f"Sec-WebSocket-Protocol: sharpeyes, bearer.{tok}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(4096)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n")[0], head

    def send_text(self, text: str) -> None:
        import os as _os

        data = text.encode()
        mask = _os.urandom(4)
        assert len(data) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes([0x81, 0x80 | len(data)]) + mask + masked)

    def read_all(self, timeout: float) -> tuple[list[tuple[int, bytes]], bool]:
        """Read frames until the server closes the TCP connection (True) or ``timeout`` passes (False)."""
        self.sock.settimeout(timeout)
        closed = False
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    closed = True
                    break
                self.buf += chunk
        except (TimeoutError, ConnectionResetError):
            closed = isinstance(sys.exc_info()[1], ConnectionResetError)
        frames, b = [], self.buf
        while len(b) >= 2:
            op, n, i = b[0] & 0x0F, b[1] & 0x7F, 2
            if n == 126:
                n, i = int.from_bytes(b[2:4], "big"), 4
            elif n == 127:
                n, i = int.from_bytes(b[2:10], "big"), 10
            if len(b) < i + n:
                break
            frames.append((op, b[i:i + n]))
            b = b[i + n:]
        return frames, closed

    def close(self) -> None:
        self.sock.close()
