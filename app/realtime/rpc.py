"""Calls to GB/T 28181 devices from any process: a request on the bus, answered by the process whose SIP
server holds the device (the others stay silent), the answer back on the bus.

Over ``LocalBus`` this is an in-process call; over ``RedisBus`` it crosses processes and hosts. A call no
server answers within its timeout fails with ``Unavailable`` (the device is registered nowhere, or did not
answer): the caller gets a 503 with that reason, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from app.domain.errors import Unavailable
from app.realtime.bus import Bus

log = logging.getLogger(__name__)

RPC_TOPIC = "gb28181.rpc"  # {"id", "op", "args"}
REPLY_TOPIC = "gb28181.rpc.reply"  # {"id", "result"} or {"id", "error"}

# (op, args) → the answer, or None when the device is not this process's
Handler = Callable[[str, dict], Awaitable[dict | None]]


class DeviceCallFailed(Unavailable):
    """The device's server answered with an error (e.g. the device refused or timed out)."""

    code = "device_call_failed"


class DeviceCalls:
    """The calling side: ``await calls.call("catalog", {"device_id": …})``."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._waiting: dict[str, asyncio.Future] = {}
        self._unsubscribe = bus.subscribe(self._on_reply, topics={REPLY_TOPIC})

    def _on_reply(self, topic: str, msg: dict) -> None:
        fut = self._waiting.get(str(msg.get("id")))
        if fut is not None and not fut.done():
            fut.set_result(msg)

    async def call(self, op: str, args: dict, timeout_s: float = 10.0) -> dict:
        rid = uuid.uuid4().hex
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            await self.bus.publish(RPC_TOPIC, {"id": rid, "op": op, "args": args})
            try:
                msg = await asyncio.wait_for(fut, timeout_s)
            except TimeoutError:
                raise Unavailable(f"no answer for {op} within {timeout_s:g} s: the device is not registered "
                                  "or did not answer") from None
        finally:
            self._waiting.pop(rid, None)
        if msg.get("error"):
            raise DeviceCallFailed(str(msg["error"]))
        return msg.get("result") or {}

    def close(self) -> None:
        self._unsubscribe()


def serve(bus: Bus, handler: Handler) -> Callable[[], None]:
    """Answer the bus's calls with ``handler``; returns unsubscribe. The handler returns None for a
    device it does not hold (another process answers), raises for a failure (sent back as the error)."""
    tasks: set[asyncio.Task] = set()

    async def answer(msg: dict) -> None:
        rid = msg.get("id")
        try:
            result = await handler(str(msg.get("op")), dict(msg.get("args") or {}))
        except Exception as exc:  # the caller gets the reason instead of waiting out its timeout
            log.info("device call %s failed: %s", msg.get("op"), exc)
            await bus.publish(REPLY_TOPIC, {"id": rid, "error": str(exc) or type(exc).__name__})
            return
        if result is not None:
            await bus.publish(REPLY_TOPIC, {"id": rid, "result": result})

    def on_request(topic: str, msg: dict) -> None:
        task = asyncio.get_running_loop().create_task(answer(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    unsubscribe = bus.subscribe(on_request, topics={RPC_TOPIC})

    def stop() -> None:
        unsubscribe()
        for t in tasks:
            t.cancel()

    return stop


__all__ = ["REPLY_TOPIC", "RPC_TOPIC", "DeviceCallFailed", "DeviceCalls", "Handler", "serve"]
