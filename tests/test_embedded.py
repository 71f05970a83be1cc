"""The embedded default: a private cluster made from the machine's binaries, started and stopped."""

import os
import shutil
import tempfile
from pathlib import Path

import psycopg

from app.db.embedded import EmbeddedCluster


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
