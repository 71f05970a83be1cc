"""One live stream per key (a channel), shared by all its viewers.

    streams = LiveStreams(linger_s=3)
    viewer = streams.watch(channel_id, opener)      # opener() -> (async iterator of PS bytes, async close)
    async for ts in viewer: ...                     # MPEG-TS bytes, starting at a keyframe
    viewer.end_reason                               # why it stopped, when it did

The first viewer of a key calls ``opener()`` (the caller's INVITE); later viewers join the running
stream and start with its GOP cache (PAT/PMT and the frames since the last keyframe), so they see a
picture at once. When the last viewer leaves, the source is closed (``close()``: the caller's BYE) after
``linger_s``, unless a viewer came back meanwhile. When the source ends (device gone, BYE from the device,
idle), every viewer's iterator ends with the reason.

A viewer that does not keep up never slows the others: its queue is bounded in bytes; when it is full,
the queue is emptied and the viewer resumes at the next keyframe (counted in ``skips``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from app.media.remux import Remuxer, TsChunk
from app.media.settings import MediaSettings

log = logging.getLogger(__name__)

Opener = Callable[[], Awaitable[tuple[AsyncIterator[bytes], Callable[[], Awaitable[None]]]]]


class Viewer:
    """One viewer's TS bytes; iterate it (once). Leaving the loop (break, cancellation) unregisters it."""

    def __init__(self, streams: LiveStreams, key: str, opener: Opener) -> None:
        self._streams, self.key, self._opener = streams, key, opener
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._waiting_for_key = True
        self._ended = False
        self.end_reason: str | None = None
        self.bytes_sent = 0
        self.skips = 0
        self._used = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._used:
            raise RuntimeError("a Viewer is iterated once")
        self._used = True
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        stream = self._streams._join(self)
        try:
            await self._streams._ready(stream, self)
            while True:
                while not self._queue and not self._ended:
                    self._wake.clear()
                    await self._wake.wait()
                if not self._queue:
                    return
                data = self._queue.popleft()
                self._queued_bytes -= len(data)
                self.bytes_sent += len(data)
                yield data
        finally:
            self._streams._leave(stream, self)

    # called by the stream's pump (same loop, never blocks)
    def _offer(self, chunk: TsChunk, limit: int) -> None:
        if self._waiting_for_key:
            if not chunk.key:
                return
            self._waiting_for_key = False
        if self._queued_bytes + len(chunk.data) > limit:  # too far behind: drop the backlog, resume at a keyframe
            self._queue.clear()
            self._queued_bytes = 0
            self.skips += 1
            self._waiting_for_key = True
            if not chunk.key:
                return
            self._waiting_for_key = False
        self._queue.append(chunk.data)
        self._queued_bytes += len(chunk.data)
        self._wake.set()

    def _finish(self, reason: str) -> None:
        if not self._ended:
            self._ended, self.end_reason = True, reason
            self._wake.set()


@dataclass
class _Stream:
    key: str
    viewers: set[Viewer] = field(default_factory=set)
    ready: asyncio.Future | None = None
    remux: Remuxer | None = None
    close_source: Callable[[], Awaitable[None]] | None = None
    source: object = None  # the opener's iterator: its .stats (a receiver's) are shown in stats()
    tasks: list[asyncio.Task] = field(default_factory=list)
    gop: list[bytes] = field(default_factory=list)
    gop_bytes: int = 0
    linger: asyncio.TimerHandle | None = None
    ended: bool = False
    end_reason: str | None = None
    opened_at: float = field(default_factory=time.monotonic)
    bytes_out: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def _public(stats) -> dict | None:
    if stats is None:
        return None
    return dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) else dict(stats)


class LiveStreams:
    def __init__(self, settings: MediaSettings | None = None, **overrides) -> None:
        """``overrides``: MediaSettings fields, e.g. ``LiveStreams(linger_s=0)`` in tests."""
        self.settings = MediaSettings.model_validate({**(settings.model_dump() if settings else {}), **overrides})
        self._streams: dict[str, _Stream] = {}
        self.opened = 0  # opener() calls, over the lifetime
        self.last_end_reason: dict[str, str] = {}
        self._closing: set[asyncio.Task] = set()

    def watch(self, key: str, opener: Opener) -> Viewer:
        return Viewer(self, key, opener)

    # --- joining and leaving ---------------------------------------------------------------------------

    def _join(self, viewer: Viewer) -> _Stream:
        st = self._streams.get(viewer.key)
        if st is None:
            st = _Stream(viewer.key, ready=asyncio.get_running_loop().create_future())
            self._streams[viewer.key] = st
            self.opened += 1
            st.tasks.append(asyncio.create_task(self._open(st, viewer._opener), name=f"live-open-{viewer.key}"))
        if st.linger is not None:  # a viewer came back in time: keep the source
            st.linger.cancel()
            st.linger = None
        st.viewers.add(viewer)
        for data in st.gop:  # a late viewer starts at the last keyframe at once
            viewer._offer(TsChunk(data, data is st.gop[0]), self.settings.viewer_queue_bytes)
        return st

    async def _ready(self, st: _Stream, viewer: Viewer) -> None:
        """Wait until the source is open; its opener's exception is the viewer's."""
        try:
            await asyncio.shield(st.ready)
        except Exception as e:
            viewer._finish(f"open failed: {e}")
            raise

    def _leave(self, st: _Stream, viewer: Viewer) -> None:
        viewer._finish(viewer.end_reason or "viewer left")
        st.viewers.discard(viewer)
        if st.viewers or st.ended or st.linger is not None:
            return
        if self.settings.linger_s == 0:
            self._end(st, "no viewer left")
        else:
            st.linger = asyncio.get_running_loop().call_later(
                self.settings.linger_s, self._end, st, f"no viewer for {self.settings.linger_s:g} s")

    # --- the source ------------------------------------------------------------------------------------

    async def _open(self, st: _Stream, opener: Opener) -> None:
        try:
            async with asyncio.timeout(self.settings.open_timeout_s):
                source, st.close_source = await opener()
                st.source = source
        except Exception as e:
            st.ready.set_exception(e)
            st.ready.exception()  # retrieved here: each viewer gets it through _ready
            self._end(st, "open timed out" if isinstance(e, TimeoutError) else f"open failed: {e}")
            return
        if not st.ended:  # else every viewer left (linger 0) or close() came while the device answered
            st.remux = Remuxer(st.key)
            st.remux.start()
            st.tasks.append(asyncio.create_task(self._feed(st, source), name=f"live-feed-{st.key}"))
            st.tasks.append(asyncio.create_task(self._pump(st), name=f"live-pump-{st.key}"))
        st.ready.set_result(None)

    async def _feed(self, st: _Stream, source: AsyncIterator[bytes]) -> None:
        try:
            async for data in source:
                st.remux.feed(data)
        except Exception as e:
            log.warning("live %s: source failed: %s", st.key, e)
            st.end_reason = st.end_reason or f"source failed: {e}"
        finally:
            if st.end_reason is None:
                st.end_reason = getattr(source, "end_reason", None) or "source ended"
            st.remux.end()

    async def _pump(self, st: _Stream) -> None:
        limit = self.settings.viewer_queue_bytes
        while True:
            chunk = await st.remux.chunks.get()
            if chunk is None:
                break
            st.bytes_out += len(chunk.data) * len(st.viewers)
            if chunk.key:
                st.gop, st.gop_bytes = [], 0
            if st.gop or chunk.key:
                if st.gop_bytes + len(chunk.data) <= self.settings.gop_cache_bytes:
                    st.gop.append(chunk.data)
                    st.gop_bytes += len(chunk.data)
                else:
                    st.gop, st.gop_bytes = [], 0
            for v in list(st.viewers):
                v._offer(chunk, limit)
        self._end(st, st.end_reason or st.remux.reason or "source ended")

    def _end(self, st: _Stream, reason: str) -> None:
        """Mark the stream ended, end its viewers, and close the source (once) in the background."""
        if st.ended:
            return
        st.ended, st.end_reason = True, st.end_reason or reason
        if reason.startswith(("no viewer", "closed")):
            st.end_reason = reason  # we stopped it; whatever the source says afterwards is a consequence
        if st.linger is not None:
            st.linger.cancel()
            st.linger = None
        if self._streams.get(st.key) is st:
            del self._streams[st.key]
        self.last_end_reason[st.key] = st.end_reason
        log.info("live %s ended: %s", st.key, st.end_reason)
        for v in list(st.viewers):
            v._finish(st.end_reason)
        task = asyncio.get_running_loop().create_task(self._close_source(st), name=f"live-close-{st.key}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_source(self, st: _Stream) -> None:
        try:
            with contextlib.suppress(Exception):
                await asyncio.shield(st.ready)  # still opening: close what the opener returns
            if st.close_source is not None:
                try:
                    await st.close_source()
                except Exception as e:
                    log.warning("live %s: closing the source failed: %s", st.key, e)
            if st.remux is not None:
                st.remux.end()
                await st.remux.wait_closed()
            for t in st.tasks:
                t.cancel()
            await asyncio.gather(*st.tasks, return_exceptions=True)
        finally:
            st.closed.set()

    # --- whole-service ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """End every stream (closing each source once) and wait for them to be torn down."""
        streams = list(self._streams.values())
        for st in streams:
            self._end(st, "closed: the media service stopped")
        for st in streams:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(st.closed.wait(), 10)

    def stats(self) -> dict:
        out = {}
        for key, st in self._streams.items():
            r = st.remux
            out[key] = {
                "viewers": len(st.viewers),
                "codec": r.codec if r else None,
                "size": [r.width, r.height] if r else None,
                "bytes_in": r.bytes_in if r else 0,
                "bytes_out": st.bytes_out,
                "frames": r.frames if r else 0,
                "keyframes": r.keyframes if r else 0,
                "gop_cache_bytes": st.gop_bytes,
                "age_s": round(time.monotonic() - st.opened_at, 1),
                "lingering": st.linger is not None,
                "skips": sum(v.skips for v in st.viewers),
                "source": _public(getattr(st.source, "stats", None)),
            }
        return {"streams": len(out), "viewers": sum(s["viewers"] for s in out.values()), "by_key": out}
