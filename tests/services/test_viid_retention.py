"""View-library retention (issue #21): one sweep deletes the records older than the retention and their image
files, in batches of a bounded size; newer records and their files stay, as does a file another record still
names and the pass of an alarm whose incident is open (kept until it is closed, then it ages out); the alarm
itself outlives its pass. A second sweep deletes nothing. The ingest's periodic job runs it from Settings."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import pytest_asyncio
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine
from app.domain.access import Scope
from app.runtime.ingest import IngestRuntime
from app.services import viid_retention, watchlists
from app.services.viid_images import ImageStore

NOW = datetime.now(UTC)
OLD, NEW = NOW - timedelta(days=100), NOW - timedelta(days=10)
BY = "99010100001190000001"


@pytest_asyncio.fixture(scope="module")
async def engine(db_url: str):
    e = make_engine(db_url)
    yield e
    await e.dispose()


class World:
    def __init__(self, engine, store: ImageStore) -> None:
        self.engine, self.store, self.n = engine, store, 0

    def image(self, when: datetime, category: str = "vehicle", data: bytes | None = None) -> dict:
        self.n += 1
        data = data or f"jpeg {self.n}".encode()
        key, sha = self.store.put(category, when.date(), data, "jpg")
        return {"type": "14", "format": "jpg", "key": key, "sha256": sha, "bytes": len(data)}

    async def vehicle(self, rid: str, when: datetime, *images: dict) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO viid_motor_vehicle (record_id, uploaded_by, pass_time, plate_no, images) "
                "VALUES (:r, :by, :t, :p, CAST(:i AS jsonb))"),
                {"r": rid, "by": BY, "t": when, "p": "粤B" + rid[-5:], "i": orjson.dumps(list(images)).decode()})

    async def sighting(self, kind: str, rid: str, shot: datetime | None, received: datetime, *images: dict) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO viid_object (kind, record_id, uploaded_by, shot_time, received_at, images) "
                "VALUES (:k, :r, :by, :t, :rt, CAST(:i AS jsonb))"),
                {"k": kind, "r": rid, "by": BY, "t": shot, "rt": received, "i": orjson.dumps(list(images)).decode()})

    async def alarm(self, rid: str, status: str) -> int:
        """A watchlist hit on pass ``rid`` and its incident in ``status``; the incident's id."""
        async with self.engine.begin() as conn:
            entry = (await conn.execute(text(
                "INSERT INTO watchlist_entry (plate, reason, area, valid_from, valid_until) "
                "VALUES ('粤B*', 'test', ARRAY['990101'], now() - interval '200 days', now() + interval '1 day') "
                "RETURNING id"))).scalar_one()
            inc = (await conn.execute(text(
                "INSERT INTO incident (type, status, source, location) "
                "VALUES ('watchlist', :s, 'viid', ST_SetSRID(ST_MakePoint(114.05, 22.54), 4326)) RETURNING id"),
                {"s": status})).scalar_one()
            await conn.execute(text(
                "INSERT INTO watchlist_hit (entry_id, record_id, plate_no, incident_id) VALUES (:e, :r, :p, :i)"),
                {"e": entry, "r": rid, "p": "粤B" + rid[-5:], "i": inc})
        return inc

    def exists(self, img: dict) -> bool:
        return self.store.path(img["key"]).is_file()

    async def records(self) -> set[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("SELECT record_id FROM viid_motor_vehicle UNION ALL "
                                           "SELECT kind || ':' || record_id FROM viid_object"))
            return set(rows.scalars())


async def test_one_sweep_deletes_old_records_and_files_in_bounded_batches(engine, tmp_path) -> None:
    w = World(engine, ImageStore(tmp_path))
    old_imgs = [w.image(OLD) for _ in range(4)]
    for i, img in enumerate(old_imgs):
        await w.vehicle(f"old-{i}", OLD - timedelta(minutes=i), img)
    shared = w.image(OLD, data=b"one scene")  # named by an old and by a new pass: stays
    await w.vehicle("old-shared", OLD, shared)
    await w.vehicle("new-shared", NEW, shared)
    gone_already = w.image(OLD)
    w.store.path(gone_already["key"]).unlink()  # a file already gone is no error
    await w.vehicle("old-nofile", OLD, gone_already)
    new_imgs = [w.image(NEW) for _ in range(2)]
    await w.vehicle("new-0", NEW, *new_imgs)
    await w.vehicle("new-1", NOW, w.image(NOW))
    held_img, closed_img = w.image(OLD), w.image(OLD)
    await w.vehicle("old-open-alarm", OLD, held_img)
    await w.vehicle("old-closed-alarm", OLD, closed_img)
    open_inc = await w.alarm("old-open-alarm", "dispatched")
    closed_inc = await w.alarm("old-closed-alarm", "closed")
    face_old, face_new, person_old = w.image(OLD, "face"), w.image(NEW, "face"), w.image(OLD, "person")
    await w.sighting("face", "f-old", OLD, OLD, face_old)
    await w.sighting("face", "f-new", NEW, NEW, face_new)
    await w.sighting("person", "p-old-untimed", None, OLD, person_old)  # no shot time: its receipt ages it
    await w.sighting("person", "p-new-untimed", None, NEW)

    run = await viid_retention.sweep(engine, w.store, 90, batch=2)

    # 7 passes (4 + shared + no file + closed alarm) in batches of ≤ 2: 4 transactions; 1 face, 1 person: 2 more
    assert (run.vehicles, run.objects, run.batches, run.held) == (7, 2, 6, 1)
    assert run.images == 4 + 1 + 1 + 1  # old-*, the closed alarm's, face, person (not the shared, not the gone)
    assert await w.records() == {"new-shared", "new-0", "new-1", "old-open-alarm", "face:f-new",
                                 "person:p-new-untimed"}
    assert not any(w.exists(i) for i in [*old_imgs, closed_img, face_old, person_old])
    assert all(w.exists(i) for i in [shared, *new_imgs, held_img, face_new])

    # the alarm whose pass aged out is still there, from its hit (the pass's own fields are gone)
    async with engine.connect() as conn:
        closed = await watchlists.alarm(conn, Scope.everywhere_up_to(3), closed_inc)
    assert closed["record_id"] == "old-closed-alarm" and closed["plate_no"] and closed["pass_time"] is None

    again = await viid_retention.sweep(engine, w.store, 90, batch=2)
    assert (again.vehicles, again.objects, again.images, again.batches, again.held) == (0, 0, 0, 0, 1)

    async with engine.begin() as conn:  # the open alarm is closed: its pass ages out at the next sweep
        await conn.execute(text("UPDATE incident SET status = 'closed' WHERE id = :i"), {"i": open_inc})
    last = await viid_retention.sweep(engine, w.store, 90, batch=2)
    assert (last.vehicles, last.images, last.held) == (1, 1, 0)
    assert not w.exists(held_img) and "old-open-alarm" not in await w.records()


async def test_the_ingest_job_sweeps_with_the_settings(engine, tmp_path) -> None:
    rt = IngestRuntime(engine, Settings(viid_image_dir=tmp_path, viid_retention_days=30, viid_retention_batch=3))
    w = World(engine, ImageStore(tmp_path))
    imgs = [w.image(NOW - timedelta(days=40)) for _ in range(7)]
    for i, img in enumerate(imgs):
        await w.vehicle(f"job-old-{i}", NOW - timedelta(days=40), img)
    keep = w.image(NEW)  # 10 days: within 30
    await w.vehicle("job-new", NEW, keep)

    run = await rt.viid_retention()

    assert (run.vehicles, run.batches, run.images) == (7, 3, 7)  # 3 + 3 + 1
    assert rt.viid_swept == run and run.cutoff == run.at - timedelta(days=30)
    assert w.exists(keep) and not any(w.exists(i) for i in imgs)
    assert not (tmp_path / "vehicle" / f"{(NOW - timedelta(days=40)).date():%Y%m%d}").exists()  # emptied: removed
    assert hashlib.sha256(w.store.path(keep["key"]).read_bytes()).hexdigest() == keep["sha256"]


async def test_health_shows_the_last_sweep(db_url: str, tmp_path) -> None:
    from app.api.main import create_app

    app = create_app(Settings(viid_image_dir=tmp_path), db_url)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/api/v1/health")).json()["process"]["viid_retention"] is None
            run = await app.state.runtime.ingest.viid_retention()
            shown = (await client.get("/api/v1/health")).json()["process"]["viid_retention"]
    assert shown["held"] == run.held and shown["vehicles"] == run.vehicles == 0
    assert datetime.fromisoformat(shown["cutoff"]) == run.cutoff


async def test_each_kind_has_its_retention_and_face_images_go_before_the_face(engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SHARPEYES_VIID_FACE_RETENTION_DAYS", "20")
    monkeypatch.setenv("SHARPEYES_VIID_NONMOTOR_RETENTION_DAYS", "45")
    s = Settings(viid_image_dir=tmp_path, viid_retention_days=90, viid_motor_vehicle_retention_days=50,
                 viid_face_image_retention_days=5, viid_retention_batch=2)
    assert s.viid_retention_by_kind == {"vehicle": 50, "face": 20, "nonmotor": 45}
    rt, w = IngestRuntime(engine, s), World(engine, ImageStore(tmp_path))
    ago = {d: NOW - timedelta(days=d) for d in (3, 10, 25, 40, 60)}
    v60, v40, v60_held = w.image(ago[60]), w.image(ago[40]), w.image(ago[60])
    await w.vehicle("kind-v60", ago[60], v60)  # past the vehicles' 50 days
    await w.vehicle("kind-v40", ago[40], v40)
    await w.vehicle("kind-v60-alarm", ago[60], v60_held)
    await w.alarm("kind-v60-alarm", "dispatched")  # held by its open incident
    f25, f10, f3 = w.image(ago[25], "face"), w.image(ago[10], "face"), w.image(ago[3], "face")
    f10_shared = w.image(ago[10], "face", b"face also named by a pass")
    await w.vehicle("kind-v10", ago[10], f10_shared)
    await w.sighting("face", "kind-f25", ago[25], ago[25], f25)  # past the faces' 20 days: record and file go
    await w.sighting("face", "kind-f10", ago[10], ago[10], f10, f10_shared)  # past 5 days: its images go
    await w.sighting("face", "kind-f3", ago[3], ago[3], f3)
    p60, n60, n40 = w.image(ago[60], "person"), w.image(ago[60], "nonmotor"), w.image(ago[40], "nonmotor")
    await w.sighting("person", "kind-p60", ago[60], ago[60], p60)  # persons: the records' 90 days
    await w.sighting("nonmotor", "kind-n60", ago[60], ago[60], n60)  # past the non-motor's 45 days
    await w.sighting("nonmotor", "kind-n40", ago[40], ago[40], n40)

    run = await rt.viid_retention()

    assert run.kept_days == {"vehicle": 50, "face": 20, "person": 90, "nonmotor": 45}
    assert run.cutoff == run.at - timedelta(days=90) and run.held >= 1 and run.face_images >= 1
    mine = {r for r in await w.records() if r.split(":")[-1].startswith("kind-")}
    assert mine == {"kind-v40", "kind-v60-alarm", "kind-v10", "face:kind-f10", "face:kind-f3", "person:kind-p60",
                    "nonmotor:kind-n40"}
    assert not any(w.exists(i) for i in (v60, f25, f10, n60))
    assert all(w.exists(i) for i in (v40, v60_held, f10_shared, f3, p60, n40))
    async with engine.connect() as conn:
        images = dict((await conn.execute(text(
            "SELECT record_id, jsonb_array_length(images) FROM viid_object WHERE record_id LIKE 'kind-f%'"))).all())
    assert images == {"kind-f10": 0, "kind-f3": 1}

    again = await rt.viid_retention()
    assert (again.face_images, again.images) == (0, 0)


def test_retention_settings_are_checked() -> None:
    import pydantic

    for bad in ({"viid_face_retention_days": 0}, {"viid_face_image_retention_days": 0},
                {"viid_motor_vehicle_retention_days": -1}):
        with pytest.raises(pydantic.ValidationError):
            Settings(**bad)
    assert Settings().viid_face_image_retention_days == 30 and Settings().viid_retention_by_kind == {}
