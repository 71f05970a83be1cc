"""Video for an upper platform (GB/T 28181 cascade, this platform the lower one): its INVITE for one of
our channels, answered with the channel's stream re-sent as RTP/PS where the upper asked.

The channel must be shared with that upper (the same rule as its catalog, ``services.platform_share``):
else 404 (no such channel) or 403. Live video is the channel's shared stream (``GbVideo.live``: one
INVITE to the device however many viewers, local or upper); playback is a stream of its own. The INVITE is
answered 100 at once, 200 with our SDP once the device's first keyframe is there (so an upper never gets a
200 for a stream that cannot start), 503 when it does not come. The upper's BYE, its CANCEL while we are
setting up, the link to it lost, or the platform disabled stop the push and release the device stream
(the last viewer gone: BYE to the device). The device's stream ending sends our BYE to the upper.
Every accepted play is audited (``cascade_play``, by the upper platform).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from app.domain.errors import Unavailable
from app.ingest.gb28181 import sip
from app.ingest.gb28181.upper_invite import OfferError, UpperDialog, answer, read_offer, read_rtsp
from app.ingest.gb28181.upper_link import UpperLink
from app.media.ps_sender import PsRtpPusher
from app.runtime.video import _local_ip_towards, first_bytes
from app.services import platform_share

log = logging.getLogger(__name__)

FIRST_FRAME_S = 15.0  # the upper's INVITE waits for our 200 meanwhile


@dataclass(eq=False)
class Push:
    platform_id: int
    link: UpperLink
    dialog: UpperDialog | None = None
    pusher: PsRtpPusher | None = None
    task: asyncio.Task | None = None
    cancelled: bool = False
    upper_ended: bool = False  # the upper said BYE: no BYE back
    reason: str | None = None
    device_dialog: object = None  # playback: the device's dialog, for the upper's speed / pause / seek
    started: asyncio.Event = field(default_factory=asyncio.Event)


class CascadeMedia:
    def __init__(self, cascade) -> None:
        self.cascade = cascade
        self.pushes: dict[str, Push] = {}  # Call-ID → push (setting up or running)

    @property
    def server(self):
        return self.cascade.server

    # --- requests from the upper -------------------------------------------------------------------

    def on_invite(self, pid: int, link: UpperLink, ctx) -> None:
        msg = ctx[0]
        if msg.call_id in self.pushes:  # a re-INVITE of a running push: nothing changes
            self.server._reply(ctx, 200)
            return
        try:
            offer = read_offer(msg)
        except OfferError as e:
            self.server._reply(ctx, e.status, e.reason)
            return
        if getattr(self.cascade, "video", None) is None:
            self.server._reply(ctx, 503, "No Video Service")
            return
        self.server._reply(ctx, 100)
        push = self.pushes[msg.call_id] = Push(pid, link)
        push.task = self.cascade._spawn(self._run(push, ctx, offer))

    def on_cancel(self, ctx) -> None:
        push = self.pushes.get(ctx[0].call_id)
        self.server._reply(ctx, 200 if push is not None else 481)
        if push is not None and push.dialog is None:
            push.cancelled = True
            if push.task is not None:
                push.task.cancel()

    def on_bye(self, ctx) -> None:
        push = self.pushes.get(ctx[0].call_id)
        if push is None:
            self.server._reply(ctx, 481)
            return
        self.server._reply(ctx, 200)
        push.upper_ended = True
        self.stop(push, "upper bye")

    def on_info(self, ctx) -> None:
        """The upper's playback control (MANSRTSP over INFO), passed on to the device's playback dialog."""
        msg = ctx[0]
        push = self.pushes.get(msg.call_id)
        if push is None or push.dialog is None:
            self.server._reply(ctx, 481)
            return
        command = read_rtsp(msg.body)
        if push.device_dialog is None or command is None:
            self.server._reply(ctx, 501, "Not Implemented")
            return
        self.server._reply(ctx, 200)
        self.cascade._spawn(self.server.playback_control(push.device_dialog, **command))

    def stop(self, push: Push, reason: str) -> None:
        push.reason = push.reason or reason
        if push.task is not None:
            push.task.cancel()

    async def stop_platform(self, pid: int, reason: str) -> None:
        """Stop the platform's pushes and wait for them (bounded): with the link lost, no BYE is tried."""
        pushes = list(dict.fromkeys(p for p in self.pushes.values() if p.platform_id == pid))
        for push in pushes:
            push.upper_ended = push.upper_ended or reason.startswith("link")  # nobody to BYE
            self.stop(push, reason)
        tasks = [p.task for p in pushes if p.task is not None and p.task is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=6.0)

    # --- one push ----------------------------------------------------------------------------------

    async def _run(self, push: Push, ctx, offer) -> None:
        msg, link = ctx[0], push.link
        stream = None
        try:
            async with self.cascade.engine.connect() as conn:
                item, cam = await platform_share.camera_item(conn, push.platform_id, link.config.local_id,
                                                             gb_id=offer.channel_id)
                row = await platform_share.platform(conn, push.platform_id)
            if item is None:
                self.server._reply(ctx, 403 if cam is not None else 404,
                                   "Forbidden" if cam is not None else "Not Found")
                return
            video = self.cascade.video
            before = set(self.server.dialogs)
            viewer = video.live(offer.channel_id) if offer.kind == "play" else \
                video.playback(offer.channel_id, offer.start, offer.end)
            try:
                stream = await first_bytes(viewer, FIRST_FRAME_S)
            except Exception as e:
                if not isinstance(e, Unavailable):
                    log.exception("upper platform %s: %s %s failed", link.config.upper_id, offer.kind,
                                  offer.channel_id)
                self.server._reply(ctx, 503, "Service Unavailable")
                log.info("upper platform %s: %s %s not started: %s", link.config.upper_id, offer.kind,
                         offer.channel_id, e)
                return
            push.device_dialog = next((d for cid, d in self.server.dialogs.items() if cid not in before
                                       and d.channel_id == offer.channel_id and d.kind == "playback"), None)
            s = self.server.settings
            pusher = push.pusher = PsRtpPusher(offer.mode, (offer.host, offer.port), offer.ssrc_value)
            await pusher.open(s.media_bind)
            host = s.media_host or s.public_host or _local_ip_towards((offer.host, offer.port))
            tag = sip.new_tag()
            push.dialog = UpperDialog.of(msg, tag, offer.channel_id)
            contact = f"<sip:{offer.channel_id}@{self.server.host}:{self.server.udp_port}>"
            self.server._reply(ctx, 200, headers=[("Contact", contact), ("Content-Type", "APPLICATION/SDP")],
                               body=answer(offer, host, pusher.port), to_tag=tag)
            push.started.set()
            async with self.cascade.engine.begin() as conn:
                await platform_share.record_play(conn, row, offer.channel_id, offer.kind, cam["id"], {
                    "to": f"{offer.host}:{offer.port}", "mode": offer.mode, "ssrc": offer.ssrc,
                    **({"start": offer.start.isoformat(), "end": offer.end.isoformat()} if offer.start else {})})
            await pusher.push(stream)
            push.reason = push.reason or f"the stream ended ({viewer.end_reason})"
        except asyncio.CancelledError:
            if push.dialog is None:
                self.server._reply(ctx, 487, "Request Terminated")
            push.reason = push.reason or "cancelled"
        except (ConnectionError, OSError, TimeoutError) as e:
            push.reason = push.reason or f"the upper's media connection failed: {e}"
        finally:
            await self._release(push, stream)

    async def _release(self, push: Push, stream) -> None:
        if push.dialog is not None:
            self.pushes.pop(push.dialog.call_id, None)
        else:
            for k in [k for k, p in self.pushes.items() if p is push]:
                self.pushes.pop(k, None)
        if stream is not None:  # leaves the live stream: the last viewer gone, the device gets its BYE
            with contextlib.suppress(Exception):
                await stream.aclose()
        if push.pusher is not None:
            push.pusher.close()
        log.info("upper platform %s: push ended: %s", push.link.config.upper_id, push.reason)
        if push.dialog is not None and not push.upper_ended:
            d = push.dialog
            with contextlib.suppress(Exception):
                await push.link.in_dialog("BYE", d.remote_uri, d.local, d.remote, d.call_id,
                                          timeout_s=min(4.0, push.link.config.timeout_s))

    def keep_only(self, pid: int, shared: set[str]) -> None:
        """The platform's rule changed: its pushes of channels no longer shared stop (BYE to the upper)."""
        for push in [p for p in self.pushes.values() if p.platform_id == pid and p.dialog is not None
                     and p.dialog.channel_id not in shared]:
            self.stop(push, "no longer shared")

    async def close(self) -> None:
        """Stop every push (BYE to the uppers while the links still run)."""
        pushes = list(self.pushes.values())
        for push in pushes:
            self.stop(push, "platform stopping")
        tasks = [p.task for p in pushes if p.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=6.0)
