"""The audit trail is append-only and hash-chained; tampering is detected."""

import os
import subprocess
import sys

import psycopg
import pytest

from app.db.engine import make_engine
from app.services import audit
from tests.conftest import login


async def _verify(url):
    engine = make_engine(url)
    async with engine.connect() as conn:
        problems = await audit.verify(conn)
    await engine.dispose()
    return problems


async def test_actions_are_logged_with_who_when_where(api):
    admin = await login(api, "admin")
    r = await api.post("/api/v1/cameras", headers=admin, json={"name": "审计", "lon": 24.944, "lat": 60.17})
    cam = r.json()["id"]
    items = (await api.get("/api/v1/audit", params={"action": "camera_create"},
                           headers=await login(api, "auditor"))).json()["items"]
    ev = next(i for i in items if i["object_id"] == str(cam))
    assert ev["actor_name"] == "admin" and ev["client_ip"] == "10.9.8.7" and ev["at"]
    logins = (await api.get("/api/v1/audit", params={"action": "login"}, headers=await login(api, "auditor"))).json()
    assert logins["total"] >= 2
    v = (await api.get("/api/v1/audit/verify", headers=await login(api, "auditor"))).json()
    assert v == {"intact": True, "problems": []}


def test_append_only_for_everyone(demo_db):
    with psycopg.connect(demo_db, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_event (action, prev_hash, hash) VALUES ('x', 'a', 'probe-hash')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_event SET action = 'y'")  # even the superuser: the trigger refuses
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_event")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE audit_event")
        # The application role holds no UPDATE/DELETE privilege at all.
        conn.execute("SET ROLE sharpeyes_app")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("UPDATE audit_event SET action = 'y'")
        conn.execute("RESET ROLE")
        conn.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update")
        conn.execute("DELETE FROM audit_event WHERE hash = 'probe-hash'")
        conn.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update")


async def test_verify_detects_altered_and_removed_rows(db_url):
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        for i in range(5):
            await audit.record(conn, "video_callup", actor_name="dispatcher", object_type="camera",
                               object_id=str(i), reason="incident 42", detail={"cameras": [i]})
    await engine.dispose()
    assert await _verify(db_url) == []
    env = {**os.environ, "DATABASE_URL": db_url, "SHARPEYES_DEMO_MODE": "1"}
    ok = subprocess.run([sys.executable, "-m", "app.cli", "audit", "verify"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "intact" in ok.stdout
    with psycopg.connect(db_url, autocommit=True) as conn:
        # A superuser who disables the trigger can change history, but not unnoticed.
        conn.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update")
        ids = [r[0] for r in conn.execute("SELECT id FROM audit_event ORDER BY id")]
        conn.execute("UPDATE audit_event SET reason = 'nothing to see' WHERE id = %s", (ids[1],))
        conn.execute("DELETE FROM audit_event WHERE id = %s", (ids[3],))
        conn.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update")
    problems = await _verify(db_url)
    assert any(f"event {ids[1]}" in p and "altered" in p for p in problems)
    assert any(f"event {ids[4]}" in p and "removed" in p for p in problems)
    bad = subprocess.run([sys.executable, "-m", "app.cli", "audit", "verify"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "TAMPERED" in bad.stdout
