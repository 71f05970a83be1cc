"""The in-process GB/T 28181 server of the ingest tests (tests/ingest/test_gb28181_server.py, _reports.py): a
module's own database with the divisions its channels are filed under, the server on 127.0.0.1 with a sink for
what it publishes, a simulated device endpoint per test; for the video and RecordInfo tests
(test_gb28181_invite.py, _records.py), a server that subscribes to nothing and an NVR with one camera."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.db.engine import make_engine, make_sessionmaker
from app.ingest.gb28181 import Gb28181Server, Gb28181Settings
from app.services.gb28181_store import Gb28181Store
from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice
from tests.waiting import async_wait_for

PASSWORD = "12345678"
SPECIAL = "34020000001320009999"  # has its own password
GCJ_DEVICE = "34020000001110000077"  # NVR that reports GCJ-02 coordinates


@pytest.fixture(scope="module")
async def db(db_url):
    engine = make_engine(db_url, pool_size=5, max_overflow=5)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO division (code, name, level, parent_code) VALUES "
                "('340000', '安徽省', 2, NULL), ('340200', '芜湖市', 3, '340000'), "
                "('340202', '镜湖区', 4, '340200')"
            )
        )
    yield make_sessionmaker(engine)
    await engine.dispose()


async def q(db, sql: str, **params):
    async with db() as s:
        return (await s.execute(text(sql), params)).all()


class Sink:
    def __init__(self) -> None:
        self.fixes: list = []
        self.events: list[tuple[str, dict]] = []

    async def positions(self, fixes) -> None:
        self.fixes.extend(fixes)

    async def publish(self, topic: str, message: dict) -> None:
        self.events.append((topic, message))

    def topics(self, topic: str) -> list[dict]:
        return [m for t, m in self.events if t == topic]


@pytest.fixture(scope="module")
async def sink():
    return Sink()


@pytest.fixture(scope="module")
async def server(db, sink):
    settings = Gb28181Settings(
        host="127.0.0.1",
        port=0,
        password=PASSWORD,
        heartbeat_interval_s=30,
        transaction_timeout_s=2,
        catalog_timeout_s=2,
        max_message_bytes=8192,
    )
    srv = Gb28181Server(
        settings,
        store=Gb28181Store(db),
        position_sink=sink.positions,
        publish=sink.publish,
        device_passwords={SPECIAL: "special-pw"},
        device_crs={GCJ_DEVICE: "gcj02"},
    )
    async with srv:
        yield srv


@pytest.fixture
async def ep(server):
    e = await PeerEndpoint.open(("127.0.0.1", server.udp_port))
    yield e
    e.close()


def channels(prefix: str, n: int, lon: float = 118.38, lat: float = 31.33) -> list[Channel]:
    return [
        Channel(
            f"{prefix}{i:03d}",
            f"通道{i}号",
            lon + i * 1e-3,
            lat + i * 1e-3,
            ptz_type=1 + i % 3,
            civil_code="340202",
            info_inside=i % 2 == 0,
        )
        for i in range(1, n + 1)
    ]


def quiet_settings(**kw) -> Gb28181Settings:
    """A server that subscribes to nothing on its own: the video and RecordInfo tests see only their dialogs."""
    return Gb28181Settings(
        host="127.0.0.1", port=0, password=PASSWORD, heartbeat_interval_s=30, transaction_timeout_s=2,
        subscribe_catalog=False, subscribe_mobile_position=False, subscribe_alarm=False, **kw,
    )


async def nvr_with_camera(server: Gb28181Server, dev_id: str, cam: str, transport: str = "UDP", **kw) -> SimDevice:
    """A registered NVR with one camera channel ``cam``, its catalog known to the server."""
    port = server.udp_port if transport == "UDP" else server.tcp_port
    ep = await PeerEndpoint.open(("127.0.0.1", port), transport)
    dev = SimDevice(ep, dev_id, PASSWORD, channels=[Channel(cam, "门口")], **kw)
    assert (await dev.register()).status == 200
    await async_wait_for(lambda: cam in server.registry.get(dev_id).channels, what="catalog")
    return dev
