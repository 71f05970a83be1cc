"""Device calls over the bus: answered by the process that holds the device, refused in time otherwise."""

import pytest

from app.domain.errors import Unavailable
from app.realtime.bus import LocalBus, RedisBus
from app.realtime.rpc import DeviceCallFailed, DeviceCalls, serve


async def _holder(op: str, args: dict) -> dict | None:
    if args.get("device_id") != "34020000001320000001":
        return None  # not ours: another process answers
    if op == "boom":
        raise RuntimeError("device answered 488")
    return {"op": op, "echo": args}


@pytest.mark.parametrize("kind", ["local", "redis"])
async def test_a_call_is_answered_by_the_holder_and_refused_in_time_otherwise(kind):
    bus = LocalBus() if kind == "local" else RedisBus("redis://127.0.0.1:6379/0", prefix="se-test-rpc:")
    await bus.start()
    stop = serve(bus, _holder)
    calls = DeviceCalls(bus)
    try:
        got = await calls.call("catalog", {"device_id": "34020000001320000001"})
        assert got == {"op": "catalog", "echo": {"device_id": "34020000001320000001"}}
        with pytest.raises(DeviceCallFailed, match="488"):
            await calls.call("boom", {"device_id": "34020000001320000001"})
        with pytest.raises(Unavailable, match="no answer"):
            await calls.call("catalog", {"device_id": "34020000001329999999"}, timeout_s=0.3)
    finally:
        calls.close()
        stop()
        await bus.stop()
