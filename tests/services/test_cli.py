"""The `sharpeyes` console commands against a real database (DATABASE_URL set)."""

import os
import subprocess
import sys

import psycopg

from app.services.security import verify_password


def _cli(db_url, *args, **env):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DATABASE_URL": db_url, "SHARPEYES_DEMO_MODE": "1", **env})


def test_first_admin_then_loads_and_drift_check(db_url, shared_data):
    r = _cli(db_url, "users", "create", "chief", "--admin", SHARPEYES_NEW_PASSWORD="first-admin-pw")
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url) as conn:
        pw, role, div = conn.execute(
            "SELECT u.password_hash, g.role_name, g.division_code FROM app_user u JOIN \"grant\" g "
            "ON g.user_id = u.id WHERE u.username = 'chief'").fetchone()
    assert pw.startswith("$argon2") and verify_password(pw, "first-admin-pw") and (role, div) == ("admin", "000000")
    assert _cli(db_url, "users", "create", "chief", "--admin", SHARPEYES_NEW_PASSWORD="x" * 10).returncode == 1
    assert _cli(db_url, "users", "create", "weak", "--admin", SHARPEYES_NEW_PASSWORD="short").returncode == 1

    r = _cli(db_url, "load", "divisions", str(shared_data / "boundaries" / "hongkong_districts_wgs84.geojson"))
    assert r.returncode == 0 and "divisions: 18" in r.stdout
    r = _cli(db_url, "load", "cameras", str(shared_data / "cameras" / "hongkong_traffic_cameras.csv"))
    assert r.returncode == 0 and "cameras: 210" in r.stdout
    assert _cli(db_url, "load", "cameras", "/nonexistent.csv").returncode == 2
    r = _cli(db_url, "db", "check")
    assert r.returncode == 0 and "no drift" in r.stdout


def test_production_mode_refuses_default_secret(db_url):
    r = subprocess.run([sys.executable, "-m", "app.cli", "db", "check"], capture_output=True, text=True,
                       env={k: v for k, v in {**os.environ, "DATABASE_URL": db_url}.items()
                            if k != "SHARPEYES_DEMO_MODE"})
    assert r.returncode == 2 and "SECRET_KEY" in r.stderr
