"""A real uvicorn server process on a free port, for tests that need HTTP over a socket."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

import httpx

from tests.live_servers import START_TIMEOUT_S


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(database_url: str, env: dict | None = None, port: int | None = None):
    port = port or free_port()
    code = ("import uvicorn; from app.config import Settings; from app.api.main import create_app; "
            f"uvicorn.run(create_app(Settings(), {database_url!r}), host='127.0.0.1', port={port}, "
            "log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code],
                            env={**os.environ, "SHARPEYES_DEMO_MODE": "1", **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
