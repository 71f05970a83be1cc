"""Video from GB/T 28181 channels, in the process that runs the SIP server: INVITE (signalling, in
``app.ingest.gb28181.invite``) joined to an RTP receiver and the PS→MPEG-TS remuxer (``app.media``).

Live video is shared: every viewer of a channel watches one stream, so N viewers cost one INVITE, and the
last viewer leaving sends the BYE (after a short linger, so a wall that re-lays its tiles does not make the
device stop and start). Playback of a recording is one stream per viewer (each has its own range and speed).
A device that stops sending, sends BYE, or goes offline ends the stream and its viewers with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from app.domain.errors import Unavailable
from app.ingest.gb28181.invite import DialogError, InviteError
from app.ingest.gb28181.server import Gb28181Server
from app.media.live import LiveStreams, Viewer
from app.media.receiver import open_receiver

log = logging.getLogger(__name__)

FIRST_BYTES_S = 20.0  # INVITE, answer, and the first keyframe: beyond this the play request fails


def _local_ip_towards(addr: tuple[str, int]) -> str:
    """The address of this host that ``addr`` reaches us on (the route the kernel picks; nothing is sent)."""
    with socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        return s.getsockname()[0]


class GbVideo:
    def __init__(self, server: Gb28181Server, streams: LiveStreams | None = None) -> None:
        self.server = server
        self.streams = streams or LiveStreams()

    def live(self, channel_id: str) -> Viewer:
        return self.streams.watch(f"live:{channel_id}", lambda: self._open(channel_id, "play"))

    def playback(self, channel_id: str, start: datetime, end: datetime, *, download: bool = False,
                 speed: float = 1.0) -> Viewer:
        """A recording of [start, end): ``s=Playback`` at ``speed``, or ``s=Download`` (the device sends as
        fast as it can). Seeking is a new playback from the new start."""
        kind = "download" if download else "playback"
        key = f"{kind}:{channel_id}:{uuid.uuid4().hex}"
        return self.streams.watch(key, lambda: self._open(channel_id, kind, start, end, speed))

    def _media(self, channel_id: str) -> tuple[str, str, str]:
        """(mode, address to bind, address written in the SDP) for a channel's device."""
        dev = self.server.device_of(channel_id)
        if dev is None or not dev.online:
            raise Unavailable(f"channel {channel_id}: no online device carries it")
        s = self.server.settings
        mode = s.media_transport
        if mode == "auto":
            mode = "udp" if dev.transport == "UDP" else "tcp-passive"
        announced = s.media_host or s.public_host or _local_ip_towards(dev.addr)
        return mode, s.media_bind, announced

    async def _open(self, channel_id: str, kind: str, start: datetime | None = None,
                    end: datetime | None = None, speed: float = 1.0) -> tuple[AsyncIterator[bytes], object]:
        mode, bind, announced = self._media(channel_id)
        # No SSRC filter: the port is this stream's alone, and many devices send another SSRC than offered.
        rx = await open_receiver(mode, bind, None, idle_s=self.server.settings.media_idle_s)
        dialog = None
        try:
            dialog = await self.server.invite(channel_id, announced, rx.port, mode,
                                              self.server.next_ssrc(kind), kind, start, end)
            if mode == "tcp-active":
                await rx.connect((dialog.address, dialog.port))
            if kind == "playback" and speed != 1.0:
                await self.server.playback_control(dialog, scale=speed)
        except BaseException as exc:
            rx.close()
            if dialog is not None:  # the device streams already: stop it (no stream left running)
                with contextlib.suppress(Exception):
                    await self.server.bye(dialog)
            if isinstance(exc, InviteError | DialogError | OSError):
                raise Unavailable(f"the device did not start the video: {exc}") from exc
            raise

        async def device_ended() -> None:  # BYE from the device, or it went offline: the stream is over
            await dialog.ended.wait()
            rx.close()

        watcher = asyncio.create_task(device_ended(), name=f"gb-video-{channel_id}")

        async def close() -> None:
            watcher.cancel()
            try:
                await self.server.bye(dialog)
            finally:
                rx.close()

        return rx, close

    async def close(self) -> None:
        await self.streams.close()


async def first_bytes(viewer: Viewer, timeout_s: float = FIRST_BYTES_S) -> AsyncIterator[bytes]:
    """Start ``viewer`` and wait for its first bytes (a keyframe), so that a device that refuses, never
    answers or never sends is a 503 with the reason instead of an empty 200; returns the whole stream."""
    it = aiter(viewer)
    try:
        async with asyncio.timeout(timeout_s):
            first = await anext(it)
    except StopAsyncIteration:
        raise Unavailable(f"the stream ended before its first frame ({viewer.end_reason})") from None
    except TimeoutError:
        with contextlib.suppress(Exception):
            await it.aclose()
        raise Unavailable(f"no video from the device within {timeout_s:g} s") from None

    async def chain() -> AsyncIterator[bytes]:
        try:
            yield first
            async for chunk in it:
                yield chunk
        finally:
            await it.aclose()

    return chain()
