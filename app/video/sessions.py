"""Viewing sessions: every stream the platform serves is one (who, which camera, since when, how many
bytes), registered in a per-process registry, so that a logout, a revoked grant, a disabled user or a
timed grant running out stops it within seconds rather than when the viewer closes it.

Rights are re-checked when the bus announces a change of a user's rights (``ACCESS_TOPIC``: logout,
grant and user changes, from any process) and every ``recheck_s`` (a timed grant ends without an
announcement). A stopped stream's response ends; an HLS viewing's next request is refused; a WebRTC
viewing's session at the media server is deleted (WHEP ``DELETE``), which stops the media there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from app.db.models import Camera
from app.domain.access import Perm
from app.realtime.hub import ACCESS_TOPIC
from app.services import audit, security

log = logging.getLogger(__name__)

STREAM, REQUESTS, WEBRTC = "stream", "requests", "webrtc"  # how a viewing's bytes reach the browser
CheckFn = Callable[[int, int, set[int]], Awaitable[set[int]]]  # (user, token version, cameras) → still allowed


@dataclass(eq=False)
class Viewing:
    user_id: int
    username: str
    version: int  # the token version of the play URL: a logout bumps the user's
    camera_id: int
    fmt: str
    kind: str = STREAM  # STREAM: one response; REQUESTS: HLS, ends when idle; WEBRTC: media flows directly
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.time)
    bytes: int = 0
    last_active: float = field(default_factory=time.monotonic)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None  # e.g. delete the WHEP session at the media server


class Viewings:
    def __init__(self, check: CheckFn, finished: Callable[[Viewing], Awaitable[None]] | None = None, *,
                 recheck_s: float = 5.0, idle_s: float = 30.0, webrtc_max_s: float = 24 * 3600) -> None:
        self.check = check
        self.finished = finished
        self.recheck_s = recheck_s
        self.idle_s = idle_s  # an HLS player fetches every few seconds; silence this long means it left
        self.webrtc_max_s = webrtc_max_s  # a WebRTC viewer that never said goodbye is forgotten after this
        self.sessions: dict[str, Viewing] = {}
        self.revoked: dict[str, float] = {}  # ids stopped for lack of rights → when (refuses their next requests)
        self._tasks: set[asyncio.Task] = set()
        self._watcher: asyncio.Task | None = None

    def subscribe(self, bus) -> Callable[[], None]:
        return bus.subscribe(lambda _t, msg: self._spawn(self.recheck(msg.get("user_id"))), topics={ACCESS_TOPIC})

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def open(self, v: Viewing) -> Viewing:
        self.sessions[v.id] = v
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="viewings-watch")
        return v

    def get(self, viewing_id: str) -> Viewing | None:
        return self.sessions.get(viewing_id)

    def stop(self, v: Viewing, reason: str) -> None:
        """End a viewing (idempotent): its stream closes, its end is audited, its media server told."""
        if self.sessions.pop(v.id, None) is None:
            return
        v.reason = v.reason or reason
        v.stopped.set()
        if reason == "access_revoked":
            self.revoked[v.id] = time.monotonic()
        if v.on_stop is not None:
            self._spawn(v.on_stop())
        if self.finished is not None:
            self._spawn(self.finished(v))

    async def recheck(self, user_id: int | None) -> None:
        """Re-check the live-video right of every running viewing of the user (``None``: of everyone)."""
        by_user: dict[tuple[int, int], list[Viewing]] = {}
        for v in list(self.sessions.values()):
            if user_id is None or v.user_id == user_id:
                by_user.setdefault((v.user_id, v.version), []).append(v)
        for (uid, version), views in by_user.items():
            try:
                allowed = await self.check(uid, version, {v.camera_id for v in views})
            except Exception:  # the database away: streams run on rather than the whole wall going black
                log.exception("re-checking the video rights of user %s failed", uid)
                continue
            for v in views:
                if v.camera_id not in allowed:
                    self.stop(v, "access_revoked")

    async def _watch(self) -> None:
        while self.sessions:
            await asyncio.sleep(self.recheck_s)
            now = time.monotonic()
            for v in list(self.sessions.values()):
                if (v.kind == REQUESTS and now - v.last_active > self.idle_s) or \
                        (v.kind == WEBRTC and now - v.last_active > self.webrtc_max_s):
                    self.stop(v, "ended")
            self.revoked = {k: t for k, t in self.revoked.items() if now - t < 3600}
            await self.recheck(None)

    async def guard(self, v: Viewing, source: AsyncIterator[bytes], *, end: bool = True) -> AsyncIterator[bytes]:
        """``source``'s bytes, counted, until it ends or the viewing is stopped (then at once, even while the
        source waits for its next chunk). ``end``: the viewing ends with this response (not HLS segments)."""
        it = aiter(source)
        stop = asyncio.ensure_future(v.stopped.wait())
        nxt: asyncio.Future | None = None
        try:
            while not v.stopped.is_set():
                nxt = asyncio.ensure_future(anext(it))
                await asyncio.wait((nxt, stop), return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    break
                try:
                    chunk = nxt.result()
                except StopAsyncIteration:
                    break
                nxt = None
                v.bytes += len(chunk)
                v.last_active = time.monotonic()
                yield chunk
        finally:
            for f in (stop, nxt):
                if f is not None and not f.done():
                    f.cancel()
                    with contextlib.suppress(BaseException):
                        await f
            with contextlib.suppress(Exception):
                await it.aclose()  # type: ignore[attr-defined]
            if end:
                self.stop(v, "ended")


def live_right(engine) -> CheckFn:
    """The right behind a play URL, now: the token version still current (no logout since), the user active,
    and a grant in force giving live video of the camera's division up to its secrecy."""

    async def check(user_id: int, version: int, camera_ids: set[int]) -> set[int]:
        async with engine.connect() as conn:
            try:
                principal = await security.load_principal(conn, user_id, version)
            except security.AuthError:
                return set()
            cams = (await conn.execute(select(Camera.id, Camera.division_code, Camera.secrecy)
                                       .where(Camera.id.in_(camera_ids)))).all()
        now = datetime.now(UTC)
        return {c.id for c in cams if principal.can(Perm.VIEW_LIVE, now, c.division_code, c.secrecy)}

    return check


def audit_end(engine) -> Callable[[Viewing], Awaitable[None]]:
    async def finished(v: Viewing) -> None:
        try:
            async with engine.begin() as conn:
                await audit.record(conn, "video_stop", actor_id=v.user_id, actor_name=v.username,
                                   object_type="camera", object_id=str(v.camera_id), detail={
                                       "session": v.id, "format": v.fmt, "reason": v.reason,
                                       "seconds": round(time.time() - v.started, 1), "bytes": v.bytes})
        except Exception:
            log.exception("auditing the end of viewing %s failed", v.id)

    return finished


def for_app(app) -> Viewings:
    """The process's registry, made on first use and listening to the app's bus."""
    reg = getattr(app.state, "viewings", None)
    if reg is None:
        reg = app.state.viewings = Viewings(live_right(app.state.engine), audit_end(app.state.engine))
        bus = getattr(app.state, "bus", None)
        if bus is not None:
            reg.subscribe(bus)
    return reg
