"""Build the frontend for browser tests when app/web/dist is missing or older than its sources.

CI runs ``npm ci && npm run build`` in frontend/ before pytest (the Makefile); this makes a plain
``pytest`` on a developer machine work too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
DIST_INDEX = ROOT / "app" / "web" / "dist" / "index.html"


def _newest_source() -> float:
    files = [*FRONTEND.joinpath("src").rglob("*"), FRONTEND / "index.html", FRONTEND / "package.json",
             FRONTEND / "package-lock.json", FRONTEND / "vite.config.ts", FRONTEND / "tsconfig.json"]
    return max(f.stat().st_mtime for f in files if f.is_file())


def ensure_built() -> Path:
    if DIST_INDEX.exists() and DIST_INDEX.stat().st_mtime >= _newest_source():
        return DIST_INDEX.parent
    npm = shutil.which("npm")
    assert npm, "the browser tests need Node.js + npm to build frontend/ (or a built app/web/dist)"
    if not (FRONTEND / "node_modules").is_dir():
        # As scripts/setup.sh: some npm 11 releases refuse this lock file in `npm ci` (other platforms'
        # optional packages missing); `npm install` honours its versions.
        if subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, timeout=600).returncode != 0:
            subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True, timeout=600)
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True, timeout=600)
    return DIST_INDEX.parent
