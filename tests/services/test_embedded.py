"""The embedded default: a private cluster made from the machine's binaries, started and stopped."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psycopg

from app.db.embedded import EmbeddedCluster
from tests.waiting import wait_for


def test_embedded_cluster_lifecycle():
    base = Path(tempfile.mkdtemp(prefix="se-emb-", dir="/tmp"))
    os.chmod(base, 0o755)  # the postgres system user must reach the data directory
    try:
        cluster = EmbeddedCluster(base, port=54391)
        url = cluster.start()
        try:
            sync = url.replace("postgresql+asyncpg", "postgresql")
            with psycopg.connect(sync) as conn:
                exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
                assert {"postgis", "pgrouting"} <= exts
                if os.geteuid() == 0:
                    owner = conn.execute("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database "
                                         "WHERE datname = current_database()").fetchone()[0]
                    assert owner == "postgres"
        finally:
            cluster.stop()
        assert not (base / "pg" / "postmaster.pid").exists()
        # A second start reuses the initialised cluster.
        cluster.start()
        cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_serve_stops_its_cluster_on_sigterm():
    """`docker stop`, systemd and `kill` send SIGTERM: the server shuts down and stops its private cluster
    (uvicorn re-raises the signal after its graceful shutdown, which used to kill the process before the
    cluster was stopped; the cluster then ran on with nobody to stop it)."""
    base = Path(tempfile.mkdtemp(prefix="se-term-", dir="/tmp"))
    os.chmod(base, 0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SHARPEYES_DATA_DIR=str(base), SHARPEYES_EMBEDDED_PORT="54393", SHARPEYES_PORT=str(port),
               SHARPEYES_DEMO_MODE="1", SHARPEYES_JT808_PORT="0", SHARPEYES_GB_PORT="0")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read()
                return False

        wait_for(healthy, timeout=120, interval=0.5, what="the server to come up")
        assert (base / "pg" / "postmaster.pid").exists()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert not (base / "pg" / "postmaster.pid").exists(), out
        assert proc.returncode in (0, 128 + signal.SIGTERM), out
    finally:
        if proc.poll() is None:
            proc.kill()
        if (base / "pg" / "postmaster.pid").exists():  # the old behaviour: stop it for the next run
            EmbeddedCluster(base, port=54393)._run("pg_ctl", "-D", str(base / "pg"), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
