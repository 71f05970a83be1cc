"""GB/T 28181 video in a split deployment (issue #19): the device registers with the ingest process's SIP
server; a dispatcher on an API process (no SIP server) calls it up and plays it live and recorded, the API
process reading the stream from the ingest process (app/runtime/media_relay.py). Real processes, Redis,
SIP and RTP sockets, real H.264; the internal route refuses anything but the platform's own grant."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
import redis

from tests.api.test_gb_video import SPOT, _frames, _read
from tests.gb28181_peer import DEVICE_TZ, Channel
from tests.gb_live import registered
from tests.live_servers import free_port, new_bus_prefix, token
from tests.realtime.test_process_roles import REDIS_URL, role_process


@pytest.fixture(scope="module")
def split(demo_db_url):
    redis.Redis.from_url(REDIS_URL).ping()  # precondition: the real Redis is there
    prefix = new_bus_prefix()
    ingest, api = role_process(demo_db_url, "ingest", prefix), role_process(demo_db_url, "api", prefix)
    ingest.sip_port, ingest.db = free_port(), demo_db_url
    ingest.env.update(SHARPEYES_GB_PORT=str(ingest.sip_port), SHARPEYES_GB_MEDIA_HOST="127.0.0.1",
                      SHARPEYES_RECORDING_SWEEP_S="0", SHARPEYES_INTERNAL_URL=ingest.base)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda p: p.start(), (ingest, api)))
        yield SimpleNamespace(ingest=ingest, api=api)
    finally:
        ingest.stop()
        api.stop()


async def test_an_api_process_plays_a_device_registered_with_the_ingest_process(split):
    now = datetime.now(UTC).replace(microsecond=0)
    local = now.astimezone(DEVICE_TZ).replace(tzinfo=None)
    files = [(local - timedelta(hours=h), local - timedelta(hours=h - 1)) for h in range(3, 0, -1)]
    ep, dev, cam = await registered(split.ingest, "34020000001320000201",
                                    Channel("34020000001320000201", "路口球机", SPOT[0], SPOT[1]),
                                    media="ps", records=files)
    base = split.api.base
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            r = await client.post("/api/v1/callup", headers=hdr, json={"camera_ids": [cam], "reason": "核查警情"})
            assert r.status_code == 200, r.text
            url = r.json()["streams"][0]["url"]
            # Two viewers on the API process: one INVITE, one device stream at the ingest process.
            (c1, t1, a), (c2, _t2, b) = await asyncio.gather(_read(client, url, 200_000), _read(client, url, 200_000))
            assert (c1, c2) == (200, 200) and t1 == "video/mp2t"
            assert all(len(_frames(ts)) >= 3 for ts in (a, b))
            assert len([m for m in dev.received if m.method == "INVITE"]) == 1

            start = now - timedelta(hours=2)
            r = await client.post("/api/v1/callup/playback", headers=hdr, json={
                "camera_id": cam, "start": start.isoformat(), "end": (start + timedelta(minutes=5)).isoformat(),
                "reason": "调取录像"})
            assert r.status_code == 201, r.text
            code, ctype, ts = await _read(client, r.json()["url"], 100_000)
            assert code == 200 and ctype == "video/mp2t" and len(_frames(ts)) >= 3
            assert any(b"s=Playback" in m.body for m in dev.received if m.method == "INVITE")
    finally:
        ep.close()


def test_the_internal_video_route_takes_only_the_platforms_grant(split):
    url = split.ingest.base + "/internal/gb/live/34020000001320000201"
    assert httpx.get(url, timeout=10).status_code == 422  # no grant at all
    assert httpx.get(url, params={"grant": "forged"}, timeout=10).status_code == 403
    # An API process has no such route: it is the SIP process's alone.
    assert httpx.get(split.api.base + "/internal/gb/live/x", params={"grant": "g"}, timeout=10).status_code == 404


def test_a_channel_no_process_holds_is_a_clear_503(split):
    base = split.api.base
    hdr = {"Authorization": f"Bearer {token(base, 'dispatcher')}"}
    import psycopg

    with psycopg.connect(split.ingest.db) as conn:
        cam = conn.execute("SELECT id FROM camera WHERE gb_id = '34020000001320000201'").fetchone()[0]
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/api/v1/callup", headers=hdr, json={"camera_ids": [cam], "reason": "核查警情"})
        assert r.status_code == 200, r.text
        split.ingest.stop()  # the device's SIP server is gone: nobody answers for its channel
        try:
            r = client.get(r.json()["streams"][0]["url"])
            assert r.status_code == 503 and "no answer" in r.text, r.text
        finally:
            split.ingest.start()
