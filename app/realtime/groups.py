"""Who gets what: feed groups (clients sharing a scope, layers and bbox), their message filters, and one
connection's queue. Filtering, coalescing and encoding happen once per group, not per client; positions
of groups with a bbox once per grid cell of their scope (``cells.py``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from starlette.websockets import WebSocket

from app.domain.access import Perm, Principal, Scope
from app.domain.events import Topic

BBOX_FILTERED = {Topic.POSITIONS, Topic.CAMERAS}  # incidents and dispatch reach the client wherever they are


class Group:
    """Clients with the same scope, layers and bbox: filtering, coalescing and encoding happen once
    per group, so a thousand walls watching the whole city cost one frame build per tick."""

    def __init__(self, key: tuple, scope: Scope, layers: frozenset[str], bbox,
                 dispatch_scope: Scope | None = None) -> None:
        self.key = key
        self.scope = scope
        # Where the group may follow dispatches (the dispatch permission's scope): none → no dispatch frames.
        self.dispatch_scope = dispatch_scope if dispatch_scope is not None else Scope((), None)
        self.layers = layers
        self.bbox = bbox
        self.clients: set[Client] = set()
        # target id → its latest position (latest wins), encoded at the tick: a target reporting faster
        # than the tick costs one encoding per tick, not one per fix.
        self.pending: dict[object, dict] = {}
        # With a bbox: the grid cells covering it (app.realtime.cells), whose shared frames it gets instead.
        self.cells: tuple = ()

    def wants(self, topic: str, msg: dict) -> bool:
        if topic not in self.layers:
            return False
        if topic == "dispatch":
            return self.dispatch_scope.covers(msg.get("division"))
        if not self.scope.covers(msg.get("division"), int(msg.get("secrecy") or 0)):
            return False
        if self.bbox and topic in BBOX_FILTERED and "lon" in msg:
            x1, y1, x2, y2 = self.bbox
            return x1 <= msg["lon"] <= x2 and y1 <= msg["lat"] <= y2
        return True


# What a dispatch message tells of where a unit is or goes: kept only for receivers whose map covers the unit.
UNIT_PLACE = ("route", "unit_lon", "unit_lat")


def dispatch_view(g: Group, msg: dict) -> dict:
    """The dispatch message as this group may see it: routes of units outside its map scope removed
    (the incident itself is in its dispatch scope, or the message would not reach it)."""
    def hidden(d: dict) -> bool:
        return "unit_division" in d and not g.scope.covers(d["unit_division"])

    items = msg.get("dispatches")
    if not hidden(msg) and not (isinstance(items, list) and any(hidden(d) for d in items)):
        return msg
    out = {k: v for k, v in msg.items() if not (k in UNIT_PLACE and hidden(msg))}
    if isinstance(items, list):
        out["dispatches"] = [{k: v for k, v in d.items() if not (k in UNIT_PLACE and hidden(d))} for d in items]
    return out


def positions_for(g: Group, msgs: list[dict]) -> list[dict]:
    """``[m for m in msgs if g.wants("positions", m)]`` for messages without ``secrecy``: the scope
    decided once per division, the bounding box inline."""
    scope = g.scope
    if scope.empty:
        return []
    if not scope.covers(None, 0):  # not everywhere (at secrecy 0, what positions carry)
        covered: dict[str | None, bool] = {}
        for division in {msg.get("division") for msg in msgs}:
            covered[division] = scope.covers(division)
        msgs = [msg for msg in msgs if covered[msg.get("division")]]
    if g.bbox:
        x1, y1, x2, y2 = g.bbox
        msgs = [msg for msg in msgs if "lon" not in msg or (x1 <= msg["lon"] <= x2 and y1 <= msg["lat"] <= y2)]
    return msgs


class Client:
    def __init__(self, ws: WebSocket, principal: Principal, scope: Scope, queue_max: int,
                 token_version: int | None = None) -> None:
        self.ws = ws
        self.principal = principal
        self.token_version = token_version  # of the token the feed was opened with (a logout bumps it)
        self.scope = scope
        self.dispatch_scope = principal.scope_for(Perm.DISPATCH, datetime.now(UTC))
        self.layers: frozenset[str] = frozenset()
        self.bbox: tuple[float, float, float, float] | None = None
        self.group: Group | None = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_max)
        self.kpi_dirty = False
        self.cut_reason: str | None = None
        self.done = asyncio.Event()
        self.frames_sent = 0

    def push(self, frame: bytes) -> bool:
        if self.cut_reason:
            return False
        try:
            self.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            self.cut("slow_consumer")
            return False

    def cut(self, reason: str) -> None:
        if not self.cut_reason:
            self.cut_reason = reason
            self.done.set()
