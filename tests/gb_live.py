"""A live platform process with its GB/T 28181 SIP server, and simulated devices registered with it: what the
API and browser tests of GB/T 28181 channels share (tests/api/test_gb_video.py, test_gb_channel_control.py,
tests/browser/test_gb_video_browser.py, test_recordings_browser.py, test_devices_browser.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.gb28181_peer import Channel, PeerEndpoint, SimDevice
from tests.live_servers import ApiProcess, free_port
from tests.waiting import async_wait_for

PASSWORD = "gb-test-password"  # the platform-wide GB/T 28181 password of the tests (tests/conftest.py)


@contextmanager
def gb_platform(db_url: str, **env: str) -> Iterator[ApiProcess]:
    """The API in a process of its own over ``db_url``, its SIP server on a free port (``proc.sip_port``),
    media received on 127.0.0.1 and no scheduled recording sweep (it would ask the devices too); ``env``
    adds settings. ``proc.db`` is ``db_url``."""
    proc = ApiProcess(db_url)
    proc.sip_port = free_port()
    proc.db = db_url
    proc.env.update(SHARPEYES_GB_PORT=str(proc.sip_port), SHARPEYES_GB_MEDIA_HOST="127.0.0.1",
                    SHARPEYES_RECORDING_SWEEP_S="0", **env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def camera_id(db: str, gb_id: str) -> int | None:
    """The camera a channel became (None: not stored yet)."""
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT id FROM camera WHERE gb_id = %s", (gb_id,)).fetchone()
        return row[0] if row else None


async def registered(server: ApiProcess, device_id: str, channel: Channel, ep: PeerEndpoint | None = None,
                     transport: str = "UDP", **kw) -> tuple[PeerEndpoint, SimDevice, int]:
    """A device with one channel registered with ``server`` (on ``ep``, or an endpoint of its own), once
    its channel is a camera: (endpoint, device, camera id)."""
    ep = ep or await PeerEndpoint.open(("127.0.0.1", server.sip_port), transport)
    dev = SimDevice(ep, device_id, PASSWORD, channels=[channel], **kw)
    assert (await dev.register()).status == 200
    cam = await async_wait_for(lambda: camera_id(server.db, channel.gb_id), interval=0.2, timeout=20,
                               what="the channel stored as a camera from the catalog")
    return ep, dev, cam


class PeerLoop:
    """The simulator's asyncio loop in a thread of its own (Playwright's sync API owns the test's thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, *endpoints: PeerEndpoint) -> None:
        """Close the endpoints, end the devices' tasks (media senders end with the loop, not destroyed while
        pending), stop the loop."""
        async def stop() -> None:
            for ep in endpoints:
                ep.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(stop(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
