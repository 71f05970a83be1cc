"""The embedded default: a private PostgreSQL + PostGIS cluster under ``data_dir``.

Made from the machine's own PostgreSQL binaries (Debian: postgresql-15 with postgresql-15-postgis-3
and postgresql-15-pgrouting). initdb refuses to run as root, so as root the cluster belongs to the
unprivileged ``postgres`` system user that the Debian package creates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
DB_NAME = "sharpeyes"
REQUIRED_PACKAGES = "postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting"


class EmbeddedError(RuntimeError):
    pass


def pg_bindir() -> Path:
    """Newest /usr/lib/postgresql/N/bin with initdb, or the one on PATH."""
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").exists()),
                          key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if versions:
            return versions[-1] / "bin"
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise EmbeddedError(f"PostgreSQL binaries not found; install: apt-get install {REQUIRED_PACKAGES}")


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise EmbeddedError("no free TCP port for the embedded cluster")


class EmbeddedCluster:
    def __init__(self, data_dir: Path, port: int = 54329) -> None:
        self.dir = (data_dir / "pg").resolve()
        self.preferred_port = port
        self.port: int | None = None
        self.bindir = pg_bindir()
        self._as_user = "postgres" if os.geteuid() == 0 else None

    # -- helpers ---------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_user:
            cmd = ["runuser", "-u", self._as_user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def _chown(self, path: Path) -> None:
        if self._as_user:
            pw = pwd.getpwnam(self._as_user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        if self._as_user:
            try:
                pwd.getpwnam(self._as_user)
            except KeyError as exc:
                raise EmbeddedError("running as root needs the 'postgres' system user "
                                    f"(apt-get install {REQUIRED_PACKAGES})") from exc
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "PG_VERSION").exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            self._chown(self.dir)
            os.chmod(self.dir, 0o700)
            log.info("initdb %s", self.dir)
            res = self._run("initdb", "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                            "--locale=C.UTF-8", check=False)
            if res.returncode != 0:
                raise EmbeddedError(f"initdb failed: {res.stderr.strip()}")
        self.port = _free_port(self.preferred_port)
        res = self._run("pg_ctl", "-D", str(self.dir), "-l", str(self.dir / "server.log"), "-w", "-o",
                        f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start", check=False)
        if res.returncode != 0:
            raise EmbeddedError(f"pg_ctl start failed: {res.stderr.strip() or res.stdout.strip()}; "
                                f"see {self.dir / 'server.log'}")
        self._ensure_database()
        return self.url

    def _ensure_database(self) -> None:
        psql = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"]
        exists = self._run(*psql, "-d", "postgres", "-c",
                           f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'").stdout.strip()
        if not exists:
            self._run(*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DB_NAME}")
        res = self._run(*psql, "-d", DB_NAME, "-c",
                        "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pgrouting;",
                        check=False)
        if res.returncode != 0:
            raise EmbeddedError(f"PostGIS/pgRouting missing: {res.stderr.strip()}; "
                                f"install: apt-get install {REQUIRED_PACKAGES}")

    def stop(self) -> None:
        if self.port is not None:
            self._run("pg_ctl", "-D", str(self.dir), "-m", "fast", "-w", "stop", check=False)
            self.port = None


@contextlib.contextmanager
def embedded(data_dir: Path, port: int = 54329) -> Iterator[str]:
    """Start the cluster, yield its URL, always stop it."""
    cluster = EmbeddedCluster(data_dir, port)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
