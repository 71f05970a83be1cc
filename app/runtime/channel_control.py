"""Channel commands over the bus (``rpc.serve``), answered by the process whose SIP server holds the
channel's device: presets, cruises, the PTZ position and precise PTZ, snapshots
(``app.ingest.gb28181.channel_control``). None for a channel registered elsewhere; a refusal or silence
of the device is raised, so the caller gets its reason at once."""

from __future__ import annotations

from app.ingest.gb28181.ptz import cruise_cmd, preset_cmd
from app.ingest.gb28181.server import Gb28181Server
from app.realtime import rpc

CHANNEL_CONTROL_OPS = ("presets", "preset", "cruise", "ptz_position", "ptz_precise", "snapshot")


def channel_control_ops(server: Gb28181Server) -> rpc.Handler:
    async def handle(op: str, args: dict) -> dict | None:
        channel = str(args.get("channel_id"))
        if op not in CHANNEL_CONTROL_OPS or server.device_of(channel) is None:
            return None
        if op == "presets":
            presets, complete = await server.presets(channel)
            return {"complete": complete, "presets": [{"preset": p.number, "name": p.name} for p in presets]}
        if op == "preset":
            await server.front_end(channel, preset_cmd(str(args["action"]), int(args["preset"])))
        elif op == "cruise":
            await server.front_end(channel, cruise_cmd(str(args["action"]), int(args["cruise"])))
        elif op == "ptz_position":
            return await server.ptz_position(channel)
        elif op == "ptz_precise":
            await server.ptz_precise(channel, float(args["pan"]), float(args["tilt"]), float(args["zoom"]))
        else:
            await server.snapshot(channel, str(args["upload_url"]), str(args["session_id"]))
        return {"status": 200}

    return handle
