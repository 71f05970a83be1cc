"""The GB/T 28181 SIP server inside the platform process: its positions join the ingest pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import make_sessionmaker
from app.domain.events import Topic
from app.ingest.gb28181 import Gb28181Settings
from app.ingest.gb28181.ptz import COMMAND_BITS
from app.ingest.gb28181.queries import COMMANDS, answer_fields
from app.ingest.gb28181.records import RecordInfoIncomplete
from app.ingest.gb28181.server import Gb28181Server
from app.realtime import rpc
from app.realtime.bus import Bus
from app.runtime.channel_control import channel_control_ops
from app.runtime.ingest import IngestRuntime
from app.services.admission import CREDENTIALS_TOPIC, GbCredentials
from app.services.gb28181_store import Gb28181Store

log = logging.getLogger(__name__)


def forward_ptz(server: Gb28181Server, bus: Bus) -> Callable[[], None]:
    """PTZ commands published on the bus (POST /cameras/{id}/ptz, from any API process) go to the camera
    through this process's SIP server when the camera's device is registered here. Returns unsubscribe."""
    tasks: set[asyncio.Task] = set()

    def on_message(topic: str, msg: dict) -> None:
        if msg.get("action") not in COMMAND_BITS or not msg.get("gb_id"):
            return  # goto (an absolute bearing) needs the camera's pan calibration: not sent
        if server.device_of(msg["gb_id"]) is None:
            return  # registered with another process's server, or not a GB/T 28181 camera
        task = asyncio.get_running_loop().create_task(server.ptz(msg["gb_id"], msg["action"], int(msg["speed"])))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return bus.subscribe(on_message, topics={Topic.PTZ})


DEVICE_OPS = ("catalog", "device_info", "device_status", *COMMANDS)


def device_ops(server: Gb28181Server) -> rpc.Handler:
    """Device-level calls (POST /devices/{id}/actions, from any API process) for ``rpc.serve``: answered
    when the device is registered here (None otherwise: another process answers). Queries return the
    device's answer fields; commands and the catalog query the status the device answered with."""

    async def handle(op: str, args: dict) -> dict | None:
        dev = server.registry.get(str(args.get("device_id")))
        if op not in DEVICE_OPS or dev is None:
            return None
        if op == "device_info":
            fields = await server.device_info(dev)  # also written to the device's row
            if fields is None:
                raise RuntimeError("the device did not answer DeviceInfo")
            return fields
        if op == "device_status":
            doc = await server.ask(dev, "DeviceStatus")
            if doc is None:
                raise RuntimeError("the device did not answer DeviceStatus")
            return answer_fields(doc)
        resp = await (server.query(dev, "Catalog") if op == "catalog" else server.control(dev, COMMANDS[op]))
        if resp is None:
            raise RuntimeError("the device did not answer")
        if resp.status != 200:
            raise RuntimeError(f"the device answered {resp.status} {resp.reason}")
        return {"status": resp.status}

    return handle


def follow_credentials(server: Gb28181Server, credentials: GbCredentials, bus: Bus) -> Callable[[], None]:
    """An administrator's admission, change or deletion (any process) holds from the device's next REGISTER:
    its cached credential is dropped; a deleted device is also dropped now (its next message gets 404,
    so it registers again, and is refused). Returns unsubscribe."""

    def on_message(topic: str, msg: dict) -> None:
        gb_id = msg.get("gb_id")
        credentials.forget(gb_id)
        dev = server.registry.get(gb_id) if gb_id and msg.get("op") == "deleted" else None
        if dev is not None:
            server.registry.unregister(gb_id)
            server._spawn(server._device_status(dev, "offline", "deleted"), "status")

    return bus.subscribe(on_message, topics={CREDENTIALS_TOPIC})


def channel_ops(server: Gb28181Server) -> rpc.Handler:
    """Channel-level calls for ``rpc.serve`` (``record_info``: a channel's recordings in a time range),
    answered when the channel's device is registered here. A partial answer is returned as such
    (``complete`` false) rather than lost: the timeline shows what the device did list."""

    async def handle(op: str, args: dict) -> dict | None:
        channel = str(args.get("channel_id"))
        if op != "record_info" or server.device_of(channel) is None:
            return None
        start, end = datetime.fromisoformat(args["start"]), datetime.fromisoformat(args["end"])
        try:
            records, complete = await server.record_info(channel, start, end), True
        except RecordInfoIncomplete as exc:
            records, complete = exc.records, False
        return {"complete": complete, "records": [
            {"start": r.start.isoformat(), "end": r.end.isoformat(), "name": r.name, "type": r.type,
             "file_size": r.file_size} for r in records if r.start and r.end]}

    return handle


async def offline_lapsed(store: Gb28181Store, every_s: float = 60.0) -> None:
    """Now (a restart leaves rows online that nobody holds any more), then every minute."""
    while True:
        try:
            await store.offline_lapsed()
        except Exception:
            log.exception("lapsed GB/T 28181 registrations not marked offline")
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def running(engine: AsyncEngine, ingest: IngestRuntime, settings: Gb28181Settings | None = None,
                  device_passwords: dict[str, str] | None = None, bus: Bus | None = None, open_: bool = False):
    """Yield the running server (or None when disabled or its port is taken); stop it on exit.

    Who may register is the admission rule (``GbCredentials``); ``open_`` (demo mode) lets an unknown device
    with the platform-wide password in as before, filed as a device on its first REGISTER."""
    settings = settings or Gb28181Settings()
    if not settings.enabled:
        yield None
        return

    server = Gb28181Server(settings, store=Gb28181Store(make_sessionmaker(engine)),
                           position_sink=ingest.coalescer.sink,
                           publish=ingest.publish, device_passwords=device_passwords)
    credentials = GbCredentials(engine, settings.domain, settings.password, open_=open_)
    if device_passwords is None:  # given: protocol tests that name their devices' passwords
        server.credentials, server.report = credentials, credentials.report
    try:
        await server.start()
    except OSError as exc:
        # Port taken (another process on this host runs the SIP server): the API stays useful without it.
        log.error("GB/T 28181 server not started on port %d: %s", settings.port, exc)
        yield None
        return
    stops = [forward_ptz(server, bus), rpc.serve(bus, device_ops(server)), rpc.serve(bus, channel_ops(server)),
             rpc.serve(bus, channel_control_ops(server)),
             follow_credentials(server, credentials, bus)] if bus is not None else []
    lapsed = asyncio.create_task(offline_lapsed(server.store))
    try:
        yield server
    finally:
        for stop in stops:
            stop()
        lapsed.cancel()
        await server.stop()
