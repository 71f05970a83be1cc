#!/usr/bin/env bash
# Installs what SharpEyes needs on a Debian machine; safe to run again (each step checks first).
#   scripts/setup.sh          runtime: PostGIS + pgRouting, Python venv, frontend build
#   scripts/setup.sh --test   plus what the tests use: Chromium (browser tests), SIPp (GB/T 28181 tests)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

PG_MAJOR=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
PG_MAJOR=${PG_MAJOR:-15}
ext_dir=/usr/share/postgresql/$PG_MAJOR/extension
pkgs=()
[ -f "$ext_dir/postgis.control" ] || pkgs+=("postgresql-$PG_MAJOR-postgis-3")
[ -f "$ext_dir/pgrouting.control" ] || pkgs+=("postgresql-$PG_MAJOR-pgrouting")
[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/initdb" ] || pkgs+=("postgresql-$PG_MAJOR")
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null || pkgs+=(chromium)
  command -v sipp >/dev/null || pkgs+=(sip-tester)
  # A CJK font, so the zh-CN pages render (and are screenshotted) as users see them, not as tofu boxes.
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || pkgs+=(fonts-wqy-microhei)
fi
command -v npm >/dev/null || pkgs+=(nodejs npm)
if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> apt-get install ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  else
    echo "Missing Debian packages: ${pkgs[*]}" >&2
    echo "Install them as root:  sudo apt-get install -y ${pkgs[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 required" >&2; exit 1; }
extras="analysis"
[ "$want_test" = 1 ] && extras="analysis,test"
stamp=".venv/.installed-$extras"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "==> pip install -e .[$extras] (versions from constraints.txt)"
  .venv/bin/pip install -q -c constraints.txt --upgrade pip
  .venv/bin/pip install -q -c constraints.txt -e ".[$extras]"
  touch "$stamp"
fi

if [ -f frontend/package.json ]; then
  if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
    echo "==> npm ci (frontend)"
    # Some npm 11 releases write lock files without other platforms' optional packages and then
    # refuse them in `npm ci`; `npm install` honours the same lock file's versions.
    (cd frontend && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null \
      || npm install --no-audit --no-fund --loglevel=error; })
  fi
  echo "==> building frontend"
  (cd frontend && npm run build --silent)
fi
