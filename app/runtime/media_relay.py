"""GB/T 28181 video for API processes that run no SIP server (``--role api``).

A device registers with one ingest process's SIP server, and only that process can INVITE it and receive
its RTP. An API process asked to play one of its channels asks on the bus which process holds the channel
(``media_base``, answered by that process alone, as every device call is: ``app/realtime/rpc.py``) and
reads the MPEG-TS from that process's internal video route (``app/api/routes/media_internal.py``) with a
short-lived sealed grant. The viewer's rights are checked by the API process before; the ingest process
shares one device stream among all the API processes' viewers (``LiveStreams``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime

import httpx

from app.domain.errors import Forbidden, Unavailable
from app.realtime import rpc
from app.realtime.rpc import DeviceCalls
from app.video import signing

MEDIA_OP = "media_base"
GRANT_S = 60  # the grant is used at once, by the API process: a minute covers a slow start
GRANT_SCOPE = 0  # sealed for "camera 0": an internal grant is never a viewer's URL
CHUNK = 64 * 1024
# Worker processes of one ingest container share its HTTP port and one of them holds the SIP server: a
# request that reaches another is answered 409 and asked again on a new connection (the kernel spreads them).
ATTEMPTS = 12


def media_ops(server, base: str) -> rpc.Handler:
    """``media_base``: this process's internal HTTP address, when the channel's device is registered here."""

    async def handle(op: str, args: dict) -> dict | None:
        if op != MEDIA_OP:
            return None
        dev = server.device_of(str(args.get("channel_id")))
        return {"base": base} if dev is not None and dev.online else None

    return handle


def grant(secret: str, kind: str, channel_id: str, **extra: object) -> str:
    return signing.seal(secret, GRANT_SCOPE, {"k": "gb-media", "kind": kind, "ch": channel_id,
                                             "exp": int(time.time()) + GRANT_S, **extra})


def read_grant(secret: str, token: str, kind: str, channel_id: str) -> dict:
    """The grant's fields; ``Forbidden`` when it is not a valid, unexpired grant for this stream."""
    g = signing.unseal(secret, GRANT_SCOPE, token)
    if g.get("k") != "gb-media" or g.get("kind") != kind or g.get("ch") != channel_id:
        raise Forbidden("invalid media grant")
    if time.time() > int(g.get("exp", 0)):
        raise Forbidden("media grant expired")
    return g


class RemoteViewer:
    """The bytes of one stream read from the process that holds the device; iterate it once."""

    def __init__(self, calls: DeviceCalls, secret: str, kind: str, channel_id: str, params: dict) -> None:
        self.calls, self.secret, self.kind, self.channel_id, self.params = calls, secret, kind, channel_id, params
        self.end_reason: str | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        held = await self.calls.call(MEDIA_OP, {"channel_id": self.channel_id}, timeout_s=5.0)
        url = f"{held['base']}/internal/gb/{self.kind}/{self.channel_id}"
        # No read timeout: a live stream is open-ended; the caller's first-bytes bound covers a silent start.
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
            for _ in range(ATTEMPTS):
                params = {**self.params, "grant": grant(self.secret, self.kind, self.channel_id)}
                try:
                    async with client.stream("GET", url, params=params, headers={"Connection": "close"}) as r:
                        if r.status_code == 409:  # another worker on that port: a new connection may reach it
                            continue
                        if r.status_code != 200:
                            detail = (await r.aread()).decode(errors="replace")[:300]
                            self.end_reason = f"the media process answered {r.status_code}"
                            raise Unavailable(f"the device's video could not be started: {detail}")
                        async for chunk in r.aiter_raw(CHUNK):
                            yield chunk
                except httpx.HTTPError as exc:  # before the first bytes: a 503 with this reason; later: the end
                    self.end_reason = f"the media process went away ({type(exc).__name__})"
                self.end_reason = self.end_reason or "ended"
                return
        self.end_reason = "no worker process at the media address holds the device"


class RemoteGbVideo:
    """``GbVideo``'s interface (``live``, ``playback``) for a process without a SIP server."""

    def __init__(self, calls: DeviceCalls, secret: str) -> None:
        self.calls, self.secret = calls, secret

    def live(self, channel_id: str) -> RemoteViewer:
        return RemoteViewer(self.calls, self.secret, "live", channel_id, {})

    def playback(self, channel_id: str, start: datetime, end: datetime, *, download: bool = False,
                 speed: float = 1.0) -> RemoteViewer:
        return RemoteViewer(self.calls, self.secret, "playback", channel_id,
                            {"start": start.isoformat(), "end": end.isoformat(), "download": int(download),
                             "speed": speed})
