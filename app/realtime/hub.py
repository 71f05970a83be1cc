"""The websocket hub: per-client subscriptions, scoped fan-out, coalesced positions, bounded queues.

Bus messages are dicts with routing fields next to the payload:
``division`` (12-digit code or None), ``secrecy`` (default 0) and, for things on the map,
``lon``/``lat``. Topics and how they travel:

- ``positions``: ``{"target_id", "lon", "lat", ...}`` — coalesced per target (latest wins) and sent
  as one ``positions`` frame per client per tick (≤ 10 Hz); a bbox is snapped to shared grid cells
  (``cells.py``): the frame may hold a few positions just outside it.
- ``cameras``, ``incidents``, ``dispatch``: sent one frame per message, in order, never coalesced
  or dropped; a client whose queue is full is cut off instead (it reconnects and gets a snapshot).
  Each carries its ``event_id`` (``bus.stream``); a client subscribing with ``"since": <the last id it
  saw>`` first gets the events it missed (same filter as live ones, then live ones: none twice, none
  missed), or ``{"type": "reload"}`` when the log no longer reaches back that far. Keepalives and the
  snapshot carry the position in the log too, so a client that sees few events does not fall behind it.
- ``kpi``: marks the client's KPIs stale; they are recomputed for its scope at most every few seconds.

Every message is filtered by the client's scope (division subtree + secrecy) before it is queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.domain.access import Perm, Principal, Scope
from app.domain.events import HUB_TOPICS, Topic
from app.realtime.bus import Bus
from app.realtime.cells import Positions
from app.realtime.groups import Client, Group, dispatch_view
from app.realtime.stream import DURABLE_TOPICS, PAGE, ZERO, key, parse_id

log = logging.getLogger(__name__)

TOPICS = HUB_TOPICS
KPI_TOPICS = {Topic.CAMERAS, Topic.INCIDENTS, Topic.DISPATCH, Topic.KPI}
REPLAYED = frozenset(TOPICS) & DURABLE_TOPICS
ACCESS_TOPIC = Topic.ACCESS  # {"user_id": id or None}: someone's rights changed (app.api.deps.forget_user)

SnapshotFn = Callable[[Scope, frozenset[str], tuple[float, float, float, float] | None], Awaitable[dict]]
KpiFn = Callable[[Scope], Awaitable[dict]]
ReloadFn = Callable[[int, int | None], Awaitable[Principal | None]]  # (user, token version) → now, or None

CLOSE_SLOW = 4008
CLOSE_EXPIRED = 4403


class Hub:
    def __init__(self, bus: Bus, *, tick_hz: float = 10.0, queue_max: int = 256, keepalive_s: float = 15.0,
                 kpi_interval_s: float = 5.0, kpi: KpiFn | None = None, reload: ReloadFn | None = None,
                 cells: bool | None = None) -> None:
        self.bus = bus
        self.reload = reload
        self.tick_s = 1.0 / min(tick_hz, 10.0)
        self.queue_max = queue_max
        self.keepalive_s = keepalive_s
        self.kpi_interval_s = kpi_interval_s
        self.kpi = kpi
        self.clients: set[Client] = set()
        self.groups: dict[tuple, Group] = {}
        # Viewports snapped to shared cells (app.realtime.cells); SHARPEYES_WS_CELLS=0 turns it off (benches).
        if cells is None:
            cells = os.environ.get("SHARPEYES_WS_CELLS", "1") != "0"
        self.positions = Positions(cells)
        self._unsubscribe: Callable[[], None] | None = None
        self._ticker: asyncio.Task | None = None
        self.cut_count = 0
        self._rechecks: set[asyncio.Task] = set()
        self._replaying: set[Client] = set()  # being sent what they missed: not in a group yet
        # Clients that resumed from an id this process had not delivered yet (another process was ahead):
        # the events up to it are not sent to them again.
        self._skip: dict[Client, str] = {}

    async def start(self) -> None:
        def on_event(topic: str, msg: dict) -> None:
            if topic == ACCESS_TOPIC:
                task = asyncio.get_running_loop().create_task(self.recheck(msg.get("user_id")))
                self._rechecks.add(task)
                task.add_done_callback(self._rechecks.discard)
                return
            self._on_event(topic, msg)

        on_event.many = self._on_events  # type: ignore[attr-defined]  # the bus hands over whole batches
        on_event.durable = self._on_event  # type: ignore[attr-defined]  # and durable events with their id
        self._unsubscribe = self.bus.subscribe(on_event)
        self._ticker = asyncio.create_task(self._tick_loop(), name="hub-ticker")

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for c in list(self.clients):
            c.cut("shutdown")

    # -- fan-out -------------------------------------------------------------------------------------
    def _on_event(self, topic: str, msg: dict, event_id: str | None = None) -> None:
        if topic not in TOPICS or not self.groups:
            return
        if topic == "kpi":
            for g in self.groups.values():
                if "kpi" in g.layers and (msg.get("division") is None or g.scope.covers(msg["division"])):
                    for c in g.clients:
                        c.kpi_dirty = True
            return
        if topic == "positions":
            self.positions.add_one(msg)
            return
        skip = self._skipping(event_id) if event_id is not None and self._skip else ()
        encoded: dict[int, tuple[dict, bytes]] = {}  # id(message as seen) → it and its frame, shared
        for g in self.groups.values():
            frame = self._frame(g, topic, msg, event_id, encoded)
            if frame is None:
                continue
            for c in list(g.clients):
                if c in skip:
                    continue
                c.push(frame)
                if topic in KPI_TOPICS:
                    c.kpi_dirty = True

    @staticmethod
    def _frame(g: Group, topic: str, msg: dict, event_id: str | None,
               encoded: dict[int, tuple[dict, bytes]]) -> bytes | None:
        """The frame of a message for a group, or None if it may not see it: the one filter of live events
        and replayed ones. ``encoded`` keeps each view alive with its frame (its id is not reused)."""
        if not g.wants(topic, msg):
            return None
        seen = dispatch_view(g, msg) if topic == "dispatch" else msg
        hit = encoded.get(id(seen))
        if hit is None:
            body = {"type": topic, **seen}
            if event_id is not None:
                body["event_id"] = event_id
            hit = encoded[id(seen)] = (seen, orjson.dumps(body))
        return hit[1]

    def _skipping(self, event_id: str) -> set[Client]:
        """The clients that already have this event (they resumed from a later id); forgets the level ones."""
        k = key(event_id)
        skip = {c for c, since in self._skip.items() if key(since) >= k}
        self._skip = {c: since for c, since in self._skip.items() if key(since) > k}
        return skip

    def _on_events(self, topic: str, msgs: list[dict]) -> None:
        """A batch of one topic (ingest publishes positions per batch): the groups are looked at once."""
        if topic == "positions":
            self.positions.add(msgs)
            return
        for msg in msgs:
            self._on_event(topic, msg)

    def _join(self, c: Client) -> None:
        self._leave(c)
        key = (c.scope.key, c.dispatch_scope.key, c.layers, c.bbox)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = Group(key, c.scope, c.layers, c.bbox, c.dispatch_scope)
            self.positions.attach(g)
        g.clients.add(c)
        c.group = g

    def _leave(self, c: Client) -> None:
        g = c.group
        if g is not None:
            g.clients.discard(c)
            if not g.clients:
                self.groups.pop(g.key, None)
                self.positions.detach(g)
            c.group = None

    async def _tick_loop(self) -> None:
        last_keepalive = last_kpi = time.monotonic()
        while True:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            try:
                self.positions.flush()
                self._check_expiry(datetime.now(UTC))
                if now - last_keepalive >= self.keepalive_s:
                    last_keepalive = now
                    self._keepalive()
                if self.kpi and now - last_kpi >= self.kpi_interval_s:
                    last_kpi = now
                    await self._send_kpis()
            except Exception:
                log.exception("hub tick failed")

    def _keepalive(self) -> None:
        """A keepalive to every client; to those in a group with the cursor: they may resume from it."""
        t = time.time()
        plain = orjson.dumps({"type": "keepalive", "t": t})
        cursor = self.bus.stream.cursor
        marked = orjson.dumps({"type": "keepalive", "t": t, "event_id": cursor}) if cursor else plain
        for c in self.clients:
            if c not in self._replaying:  # its queue may be full of the replay: a keepalive must not cut it
                c.push(marked if c.group is not None and c not in self._skip else plain)

    def _check_expiry(self, now: datetime) -> None:
        for c in list(self.clients):
            ends = [e for e in (c.scope.expires, c.dispatch_scope.expires) if e is not None]
            if ends and now >= min(ends):
                # Re-check at the earliest grant end: other grants may still hold, possibly narrower.
                c.scope = c.principal.scope_for(Perm.VIEW_MAP, now)
                c.dispatch_scope = c.principal.scope_for(Perm.DISPATCH, now)
                if c.scope.empty:
                    c.cut("grant_expired")  # serve() tells the client why, then closes
                elif c.group is not None:
                    self._join(c)  # narrower scope: another group

    async def recheck(self, user_id: int | None) -> None:
        """A user's rights changed (grant revoked, user disabled, logout; ``None``: anyone's): reload the
        principal of each of their feeds now, narrow the feed or end it, rather than at token expiry."""
        if self.reload is None:
            return
        for c in [c for c in self.clients if user_id is None or c.principal.user_id == user_id]:
            try:
                principal = await self.reload(c.principal.user_id, c.token_version)
            except Exception:
                log.exception("reloading the rights of user %s failed", c.principal.user_id)
                continue
            scope = principal.scope_for(Perm.VIEW_MAP, datetime.now(UTC)) if principal else None
            if scope is None or scope.empty:
                c.cut("access_revoked")
                continue
            c.principal, c.scope = principal, scope
            c.dispatch_scope = principal.scope_for(Perm.DISPATCH, datetime.now(UTC))
            if c.group is not None:
                self._join(c)  # possibly narrower: another group

    async def _send_kpis(self) -> None:
        dirty = [c for c in self.clients if c.kpi_dirty and "kpi" in c.layers and c not in self._replaying]
        by_scope: dict[tuple, list[Client]] = {}
        for c in dirty:
            c.kpi_dirty = False
            by_scope.setdefault(c.scope.key, []).append(c)
        for clients in by_scope.values():
            kpi = await self.kpi(clients[0].scope)
            frame = orjson.dumps({"type": "kpi", "kpi": kpi})
            for c in clients:
                c.push(frame)

    # -- one connection ------------------------------------------------------------------------------
    async def serve(self, ws: WebSocket, principal: Principal, snapshot: SnapshotFn,
                    token_version: int | None = None) -> str:
        """Run one authenticated connection until it closes; returns why it ended."""
        scope = principal.scope_for(Perm.VIEW_MAP, datetime.now(UTC))
        client = Client(ws, principal, scope, self.queue_max, token_version)
        self.clients.add(client)
        sender = asyncio.create_task(self._send_loop(client))
        receiver = asyncio.create_task(self._receive_loop(client, snapshot))
        try:
            await client.done.wait()
        finally:
            self.clients.discard(client)
            self._replaying.discard(client)
            self._skip.pop(client, None)
            self._leave(client)
            for t in (sender, receiver):
                t.cancel()
            for t in (sender, receiver):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            if client.cut_reason in ("slow_consumer", "grant_expired", "access_revoked"):
                self.cut_count += client.cut_reason == "slow_consumer"
                code = CLOSE_SLOW if client.cut_reason == "slow_consumer" else CLOSE_EXPIRED
                with contextlib.suppress(Exception):
                    if code == CLOSE_EXPIRED:  # a slow client would not read it anyway
                        await asyncio.wait_for(ws.send_bytes(orjson.dumps(
                            {"type": "error", "code": client.cut_reason})), 1.0)
                    await asyncio.wait_for(ws.close(code=code, reason=client.cut_reason), 1.0)
        return client.cut_reason or "closed"

    async def _send_loop(self, c: Client) -> None:
        try:
            while True:
                frame = await c.queue.get()
                await c.ws.send_bytes(frame)
                c.frames_sent += 1
        except (WebSocketDisconnect, RuntimeError, OSError):
            c.cut("disconnected")

    async def _receive_loop(self, c: Client, snapshot: SnapshotFn) -> None:
        try:
            while True:
                raw = await c.ws.receive_text()
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    c.push(orjson.dumps({"type": "error", "code": "bad_message"}))
                    continue
                kind = msg.get("type") if isinstance(msg, dict) else None
                if kind == "subscribe":
                    await self._subscribe(c, msg, snapshot)
                elif kind == "ping":
                    c.push(orjson.dumps({"type": "pong", "t": msg.get("t")}))
                else:
                    c.push(orjson.dumps({"type": "error", "code": "unknown_type"}))
        except (WebSocketDisconnect, RuntimeError):
            c.cut("disconnected")

    async def _subscribe(self, c: Client, msg: dict, snapshot: SnapshotFn) -> None:
        layers = msg.get("layers") or list(TOPICS)
        bbox = msg.get("bbox")
        if not (isinstance(layers, list) and all(isinstance(x, str) for x in layers)):
            c.push(orjson.dumps({"type": "error", "code": "bad_layers"}))
            return
        if bbox is not None and not _valid_bbox(bbox):
            c.push(orjson.dumps({"type": "error", "code": "bad_bbox"}))
            return
        c.layers = frozenset(layers) & frozenset(TOPICS)
        c.bbox = tuple(float(v) for v in bbox) if bbox else None
        if msg.get("since") is None:
            self._join(c)
            mark = self.bus.stream.cursor
        else:
            self._leave(c)
            mark = await self._resume(c, msg["since"])
        # Deltas arriving while the snapshot is read wait in the queue before it: none is lost.
        snap = await snapshot(c.scope, c.layers, c.bbox)
        frame = orjson.dumps({"type": "snapshot", "layers": sorted(c.layers), **snap,
                              **({"event_id": mark} if mark else {})})
        try:
            c.queue.put_nowait(frame)
        except asyncio.QueueFull:
            c.cut("slow_consumer")

    async def _resume(self, c: Client, since: object) -> str | None:
        """Send the client the durable events after ``since`` it may see (the live filter) up to this
        process's cursor, then join its group in the same step: later ones come live, none twice, none
        missed. Returns the position it is level with. An id the log no longer reaches (or never had) gets
        ``reload``: the snapshot that follows is the state."""
        stream = self.bus.stream
        after = since if isinstance(since, str) else ""
        reason = "bad_since" if parse_id(after) is None else None
        view = Group(None, c.scope, c.layers, c.bbox, c.dispatch_scope)
        self._replaying.add(c)
        try:
            reason = reason or await stream.check(after)
            while not reason and not c.cut_reason:
                upto = stream.cursor or ZERO
                if key(after) >= key(upto):
                    break
                page = await stream.read(after, upto, PAGE)
                # Trimmed while it was read: the page may have a hole.
                reason = await stream.check(after)
                frames = [self._frame(view, t, m, i, {}) for i, t, m in page if t in REPLAYED and not reason]
                for frame in filter(None, frames):
                    await c.queue.put(frame)  # waits for the socket: a long replay is not a slow client
                after = upto if len(page) < PAGE else page[-1][0]
        except Exception:  # Redis unreachable: the client reloads rather than silently missing events
            log.exception("replaying events after %s failed", after)
            reason = "unavailable"
        finally:
            self._replaying.discard(c)
        if reason:
            c.push(orjson.dumps({"type": "reload", "reason": reason}))
        self._join(c)  # no await since the cursor was read: nothing was delivered in between
        if not reason and key(after) > key(stream.cursor or ZERO):  # another process was ahead
            self._skip[c] = after  # what it already sent is not sent again
            return after
        return stream.cursor


def _valid_bbox(b) -> bool:
    if not (isinstance(b, list) and len(b) == 4 and all(isinstance(v, int | float) for v in b)):
        return False
    x1, y1, x2, y2 = b
    return -180 <= x1 <= x2 <= 180 and -90 <= y1 <= y2 <= 90
