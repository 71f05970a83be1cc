"""The demo city: divisions + Helsinki OSM + demo accounts, loaded idempotently."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import AppUser
from app.domain.access import TOP_SECRECY
from app.services.loaders.files import load_divisions
from app.services.loaders.osm import load_osm
from app.services.loaders.report import LoadReport
from app.services.users import create_user, ensure_roles

GISDATA = Path(__file__).resolve().parents[2] / "gisdata"
DEMO_PASSWORD = "sharpeyes-demo"
DEMO_USERS = [  # username, role, division
    ("admin", "admin", "000000"),
    ("commander", "commander", "990100"),
    ("dispatcher", "dispatcher", "990100"),
    ("planner", "planner", "990100"),
    ("planner_nw", "planner", "990101"),
    ("officer", "officer", "990100"),
    ("auditor", "auditor", "000000"),
]


async def load_demo(conn: AsyncConnection) -> list[LoadReport]:
    reports = [await load_divisions(conn, GISDATA / "demo_divisions.geojson"),
               await load_osm(conn, GISDATA / "helsinki.osm.pbf")]
    await ensure_roles(conn)
    existing = set((await conn.execute(select(AppUser.username))).scalars())
    for username, role, division in DEMO_USERS:
        if username not in existing:
            await create_user(conn, username, DEMO_PASSWORD, role, division,
                              max_secrecy=TOP_SECRECY if role == "admin" else 0)
    return reports


async def link_demo_officer(conn: AsyncConnection, callsign: str = "SIM-01") -> None:
    """In the demo, the field officer `officer` rides in the first simulated car (so /m has assignments)."""
    from sqlalchemy import text

    await conn.execute(text("""
        UPDATE unit SET user_id = u.id FROM app_user u
        WHERE u.username = 'officer' AND unit.callsign = :c
          AND NOT EXISTS (SELECT 1 FROM unit x WHERE x.user_id = u.id)"""), {"c": callsign})
