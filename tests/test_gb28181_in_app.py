"""The SIP server runs inside the platform: a device registers and its MobilePosition fixes are stored
through the same ingest pipeline as every other protocol."""

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import text

from app.db.engine import make_engine
from tests.gb28181_peer import PeerEndpoint, SimDevice


async def test_device_positions_reach_the_position_table(api, demo_db):
    server = api.app.state.gb28181
    assert server is not None, "the app starts its GB/T 28181 server"
    ep = await PeerEndpoint.open(("127.0.0.1", server.udp_port))
    try:
        dev = SimDevice(ep, "99010100001380000001", "gb-test-password", answer_catalog=False)
        assert (await dev.register()).status == 200
        now_local = datetime.now(server.tz).replace(microsecond=0, tzinfo=None)
        fixes = [(dev.device_id, now_local - timedelta(seconds=20 - i * 5), 24.94 + i * 0.0005, 60.17, 30.0, 90.0)
                 for i in range(4)]
        assert (await dev.send_positions(fixes[:1], "flat", "NOTIFY")).status == 200  # one fix per flat body
        assert (await dev.send_positions(fixes[1:], "list", "MESSAGE")).status == 200
        engine = make_engine(demo_db)
        for _ in range(50):
            async with engine.connect() as conn:
                n = (await conn.execute(text(
                    "SELECT count(*) FROM position p JOIN target t ON t.id = p.target_id "
                    "WHERE t.protocol = 'gb28181' AND t.external_id = :d"), {"d": dev.device_id})).scalar()
            if n == 4:
                break
            await asyncio.sleep(0.1)
        await engine.dispose()
        assert n == 4
    finally:
        ep.close()
