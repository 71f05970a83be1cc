"""A lower platform's catalog at the upper (GB/T 28181 cascade): tree nodes kept as its directory, channels as
cameras whose parent is the platform that relays them: ``mapping`` (pure), then a simulated vendor's lower
platform registering with the in-process SIP server (its directory, channels and catalog events stored)."""

# ruff: noqa: F811  (the fixtures imported from tests/gb_server_fixtures.py are the tests' parameters)
from __future__ import annotations

from sqlalchemy import text

from app.domain import gb_device
from app.ingest.gb28181 import mapping
from app.ingest.gb28181.manscdp import CatalogItem
from tests.gb28181_peer import Channel, SimDevice
from tests.gb_server_fixtures import PASSWORD, channels, db, ep, q, server, sink  # noqa: F401  (fixtures)
from tests.waiting import async_wait_for

LOWER = "99010200002000000001"  # type 200: a platform
NVR = "34020000001180000001"


def test_directory_nodes_are_business_groups_organisations_and_civil_codes():
    node = mapping.directory_node
    assert node(CatalogItem("99010200002150000001", name="县级平台", parent_id=LOWER)) == {
        "id": "99010200002150000001", "name": "县级平台", "type": "business_group", "parent": LOWER}
    org = node(CatalogItem("99010200002160000001", name="东城街道", parent_id="99010200002150000001"))
    assert org and org["type"] == "organisation"
    for civil in ("99", "9901", "990102", "99010201"):
        n = node(CatalogItem(civil, name=None))
        assert n == {"id": civil, "name": civil, "type": "civil", "parent": None}
    for channel in ("99010200001310000001", "99010200001320000001", NVR, LOWER, "990102001"):
        assert node(CatalogItem(channel)) is None


def test_a_lower_platforms_channels_have_the_platform_as_parent():
    via_org = CatalogItem("99010200001320000001", parent_id="99010200002160000001", lon=1.0, lat=1.0, secrecy=1)
    behind_nvr = CatalogItem("99010200001320000002", parent_id=NVR, lon=1.0, lat=1.0)
    for item in (via_org, behind_nvr):
        assert mapping.camera_row(item, LOWER, "wgs84")["parent_device"] == LOWER
    assert mapping.camera_row(via_org, LOWER, "wgs84")["secrecy"] == 1
    # An NVR's channel naming another device keeps that device as its parent, as before.
    assert mapping.camera_row(behind_nvr, "34020000001180000009", "wgs84")["parent_device"] == NVR


def test_a_platform_id_suggests_kind_platform():
    assert "platform" in gb_device.KINDS
    assert gb_device.kind_for(LOWER) == "platform"


# --- over real sockets, in process: another vendor's lower platform registering with our SIP server ---------

PLATFORM = "34020200002000000001"  # type 200


async def _platform_row(db) -> None:
    async with db() as s, s.begin():
        await s.execute(text("INSERT INTO gb_device (gb_id, name, kind, ha1) VALUES (:g, '区级平台', 'platform', 'x')"),
                        {"g": PLATFORM})


async def _directory(db) -> dict[str, str] | None:
    rows = await q(db, "SELECT directory FROM gb_device WHERE gb_id = :g", g=PLATFORM)
    return {n["id"]: n["type"] for n in rows[0][0]} if rows and rows[0][0] is not None else None


async def test_a_vendor_lower_platform_directory_channels_and_sync(server, ep, db):
    await _platform_row(db)
    group, org, org2 = "34020200002150000001", "34020200002160000001", "34020200002160000002"
    chs = channels("34020200001320000", 3)
    chs[0].parent_id = org
    chs[1].parent_id = "34020200001180000007"  # an NVR behind the lower platform: the platform relays it
    chs[2].secrecy = 1
    lower = SimDevice(ep, PLATFORM, PASSWORD, channels=[
        Channel("3402", "芜湖市"), Channel("340202", "镜湖区", parent_id="3402"),
        Channel(group, "区级平台", parent_id=PLATFORM), Channel(org, "东城街道", parent_id=group), *chs])
    assert (await lower.register()).status == 200

    async def cameras():
        rows = await q(db, "SELECT gb_id, parent_device, secrecy FROM camera WHERE parent_device = :d ORDER BY gb_id",
                       d=PLATFORM)
        return {r.gb_id: r.secrecy for r in rows} if len(rows) == 3 else None

    assert await async_wait_for(cameras) == {chs[0].gb_id: 0, chs[1].gb_id: 0, chs[2].gb_id: 1}
    assert await async_wait_for(lambda: _directory(db)) == {
        "3402": "civil", "340202": "civil", group: "business_group", org: "organisation"}

    # Catalog events: a virtual organisation added, another deleted; the directory follows.
    resp = await lower.send_catalog_event([(Channel(org2, "西城街道", parent_id=group), "ADD"),
                                           (Channel(org, "东城街道"), "DEL")])
    assert resp.status == 200
    await async_wait_for(lambda: _has(db, org2, org), what="the directory after the events")

    # A whole catalog without a channel (unshared while no event could come): its camera is gone.
    lower.channels = [c for c in lower.channels if c.gb_id != chs[1].gb_id]
    await server.query(server.registry.get(PLATFORM), "Catalog")
    await async_wait_for(lambda: _count(db, 2), what="the channel the lower no longer lists deleted")


async def _has(db, present: str, absent: str) -> bool:
    d = await _directory(db) or {}
    return present in d and absent not in d


async def _count(db, n: int) -> bool:
    return (await q(db, "SELECT count(*) FROM camera WHERE parent_device = :d", d=PLATFORM))[0][0] == n
