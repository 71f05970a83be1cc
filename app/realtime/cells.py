"""Position fan-out: coalesce per target, encode once, share frames between screens.

Two paths, chosen per feed group when it is made:

- **Whole city** (no bbox) — and every bbox group when cells are off: the group keeps its own latest
  position per target and builds one frame per tick (the path of a thousand walls on one view).
- **Cells** (a bbox): the bbox is snapped to a fixed power-of-two grid in degrees whose cell size follows
  the bbox size, each axis on its own (``snap``: at most ``PER_SIDE + 1`` cells a side). Groups of one scope share a
  ``CellView``: positions are coalesced once per scope, bucketed into the watched cells at the tick, each
  cell's items joined once, and a group's frame is the join of its cells' items — built once per distinct
  set of cells. Two hundred screens with their own viewports then cost about what two hundred on one view
  do: the per-screen work is a join of a few byte strings and the send.

A screen on cells receives every position inside its bbox and also those in the rest of the cells that
cover it: under 2.5× its width and height in the worst case, about 1.4× each (1.9× its area) on average. The client
draws them or ignores them; the scope filter (division subtree + secrecy) is exact either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import orjson

from app.realtime.groups import Group, positions_for

# A cell is at least 1/PER_SIDE of the bbox's side: ≤ PER_SIDE + 1 cells a side. Smaller cells send fewer
# positions outside the bbox but cost more per screen and tick, and fewer screens share a set of cells.
PER_SIDE = 4
MAX_ZOOM = 24  # ~2 cm cells: a point bbox still gets one small cell
HEAD, TAIL = b'{"type":"positions","items":[', b"]}"

Cell = tuple[int, int, int, int]  # (x zoom, y zoom, column, row): 360/2**zx by 180/2**zy degrees from (-180, -90)


def zoom(side: float, span: float) -> int:
    """The largest zoom whose cell (span / 2**z) is at least side / PER_SIDE."""
    return MAX_ZOOM if side <= 0 else max(0, min(MAX_ZOOM, math.floor(math.log2(span * PER_SIDE / side))))


def snap(bbox: tuple[float, float, float, float]) -> tuple[Cell, ...]:
    """The cells covering a bbox on the grid sized from it, each axis on its own (a 16:9 screen at 60° N
    spans twice as many degrees of longitude as of latitude): screens of similar size share cells."""
    x1, y1, x2, y2 = bbox
    zx, zy = zoom(x2 - x1, 360.0), zoom(y2 - y1, 180.0)
    sx, sy = 360.0 / (1 << zx), 180.0 / (1 << zy)
    cols = range(int((x1 + 180.0) // sx), int((x2 + 180.0) // sx) + 1)
    rows = range(int((y1 + 90.0) // sy), int((y2 + 90.0) // sy) + 1)
    return tuple((zx, zy, c, r) for c in cols for r in rows)


class CellView:
    """The groups of one scope that follow positions through cells: one coalescing dict, one bucketing
    per zoom in use, one encoding per cell per tick."""

    def __init__(self, scope) -> None:
        self.scope = scope
        self.bbox = None  # for positions_for: the scope filter only, the cells do the place
        self.groups: set[Group] = set()
        self.watch: dict[tuple[int, int], dict[tuple[int, int], int]] = {}  # zooms → (col, row) → groups
        self.pending: dict[object, dict] = {}  # target id → its latest position (latest wins)

    def attach(self, g: Group) -> None:
        self.groups.add(g)
        for zx, zy, c, r in g.cells:
            w = self.watch.setdefault((zx, zy), {})
            w[c, r] = w.get((c, r), 0) + 1

    def detach(self, g: Group) -> None:
        self.groups.discard(g)
        for zx, zy, c, r in g.cells:
            w = self.watch[zx, zy]
            w[c, r] -= 1
            if not w[c, r]:
                del w[c, r]
                if not w:
                    del self.watch[zx, zy]

    def add(self, msgs: list[dict]) -> None:
        if any("secrecy" in m for m in msgs):
            covers = self.scope.covers
            msgs = [m for m in msgs if covers(m.get("division"), int(m.get("secrecy") or 0))]
        else:
            msgs = positions_for(self, msgs)  # type: ignore[arg-type]  # scope decided once per division
        self.pending.update({m.get("target_id"): m for m in msgs})

    def chunks(self, encode) -> dict[Cell | None, bytes]:
        """Each watched cell's items of this tick, joined once; ``None``: positions without a place
        (every group of the view gets them, as the bbox filter lets them through)."""
        buckets: dict[Cell | None, list[bytes]] = {}
        msgs = list(self.pending.values())
        placed = [m for m in msgs if "lon" in m]
        if len(placed) < len(msgs):
            buckets[None] = [encode(m) for m in msgs if "lon" not in m]
        for (zx, zy), watched in self.watch.items():
            sx, sy = 360.0 / (1 << zx), 180.0 / (1 << zy)
            for m in placed:
                cr = (int((m["lon"] + 180.0) // sx), int((m["lat"] + 90.0) // sy))
                if cr in watched:
                    buckets.setdefault((zx, zy, *cr), []).append(encode(m))
        return {cell: b",".join(items) for cell, items in buckets.items()}


class Positions:
    """Every group's position feed: ``add`` as batches arrive, ``flush`` at each tick."""

    def __init__(self, cells: bool = True) -> None:
        self.use_cells = cells
        self.direct: set[Group] = set()  # whole city, or a bbox with cells off: the group coalesces itself
        self.views: dict[tuple, CellView] = {}  # scope key → its cell view
        # What was built, for tests and benches: frames per tick grow with distinct cell sets, not screens.
        self.chunks_built = 0
        self.frames_built = 0

    def attach(self, g: Group) -> None:
        if "positions" not in g.layers:
            return
        if g.bbox is None or not self.use_cells:
            self.direct.add(g)
            return
        g.cells = snap(g.bbox)
        view = self.views.get(g.scope.key)
        if view is None:
            view = self.views[g.scope.key] = CellView(g.scope)
        view.attach(g)

    def detach(self, g: Group) -> None:
        self.direct.discard(g)
        view = self.views.get(g.scope.key)
        if view is not None and g in view.groups:
            view.detach(g)
            if not view.groups:
                del self.views[g.scope.key]

    def add_one(self, msg: dict) -> None:
        """One position (published alone): the groups' own filter, no batch set-up."""
        tid = msg.get("target_id")
        for g in self.direct:
            if g.wants("positions", msg):
                g.pending[tid] = msg
        for view in self.views.values():
            if view.scope.covers(msg.get("division"), int(msg.get("secrecy") or 0)):
                view.pending[tid] = msg

    def add(self, msgs: list[dict]) -> None:
        """A batch of positions (ingest publishes them per batch): each group or view looks at it once."""
        if not msgs:
            return
        secret = any("secrecy" in msg for msg in msgs)  # positions carry none: the per-message check then
        for g in self.direct:
            if secret:
                pending, wants = g.pending, g.wants
                for msg in msgs:
                    if wants("positions", msg):
                        pending[msg.get("target_id")] = msg
            else:
                g.pending.update({msg.get("target_id"): msg for msg in positions_for(g, msgs)})
        for view in self.views.values():
            view.add(msgs)

    def flush(self) -> None:
        encoded: dict[int, bytes] = {}  # id(message) → its JSON, shared between groups, views and cells
        dumps = orjson.dumps

        def encode(msg: dict) -> bytes:
            e = encoded.get(id(msg))
            if e is None:
                e = encoded[id(msg)] = dumps(msg)
            return e

        flushed = [g for g in self.direct if g.pending]
        for g in flushed:
            frame = HEAD + b",".join([encode(m) for m in g.pending.values()]) + TAIL
            self.frames_built += 1
            for c in list(g.clients):
                c.push(frame)
        views = [v for v in self.views.values() if v.pending]
        for view in views:
            chunks = view.chunks(encode)
            self.chunks_built += len(chunks)
            frames: dict[tuple, bytes] = {}  # the cells with news → their frame, shared between groups
            for g in view.groups:
                have = tuple(cell for cell in g.cells if cell in chunks)
                if None in chunks:
                    have += (None,)
                if not have:
                    continue
                frame = frames.get(have)
                if frame is None:
                    frame = frames[have] = HEAD + b",".join([chunks[cell] for cell in have]) + TAIL
                    self.frames_built += 1
                for c in list(g.clients):
                    c.push(frame)
        # Only now: every message stays alive (its id unique) while the frames are built.
        for g in flushed:
            g.pending.clear()
        for view in views:
            view.pending.clear()

    def groups(self) -> Iterable[Group]:
        yield from self.direct
        for view in self.views.values():
            yield from view.groups
