"""Helpers for tests that need real API processes (uvicorn subprocesses) and websocket clients."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "sharpeyes-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def api_process(db_url: str, port: int | None = None, redis_url: str | None = None):
    """Run ``uvicorn app.api.asgi:app`` in a subprocess; yields its base URL; stops it on exit."""
    port = port or free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "SHARPEYES_DEMO_MODE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.api.asgi:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API process on port {port} did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
