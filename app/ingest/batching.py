"""The one batching primitive of ingest: the items of many callers → one ``sink`` call per batch.

Group commit, as databases do it: a batch opens with its first item and is sealed ``delay_s`` later (0:
on the loop's next turn, after every connection that is ready now added its own) or once it weighs
``max_items``. Up to ``slots`` sink calls run at once, each with its slot number (e.g. a writer's own
connection); while every slot is busy, sealed batches wait and the next free slot takes as many of them
together as fit in ``max_batch`` — under load, batches grow by themselves and one commit answers many
callers. A batch is settled when its sink call returned (``ok``) or raised (``error``); nothing is
acknowledged before that.

Used by the JT/T 808 listener (one commit per group of connections' fixes; the 0x8001 acks follow it),
the coalescer of single-fix HTTP reports, and the position writer (COPY per batch on its connections).
Backpressure: ``waiting`` is the weight sealed or open and not yet in a sink call; ``room()`` waits
until the unsettled weight is under ``max_pending`` (a producer that can pause its socket instead reads
``waiting``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batch(Generic[T]):
    """Items of several callers stored by one sink call. ``parties``: whoever must hear the outcome
    (e.g. the connections whose acks wait for it), for the owner's ``on_settled``."""

    __slots__ = ("_done", "error", "items", "ok", "parties", "sealed", "weight")

    def __init__(self) -> None:
        self.items: list[T] = []
        self.weight = 0
        self.sealed = False
        self.ok: bool | None = None  # None until settled
        self.error: BaseException | None = None
        self.parties: set = set()
        self._done: asyncio.Future | None = None

    async def wait(self) -> None:
        """Return once settled; raise the sink's exception if it raised."""
        if self.ok is None:
            if self._done is None:
                self._done = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._done)  # a cancelled caller does not cancel the others' commit
        if self.error is not None:
            raise self.error

    def _settle(self, error: BaseException | None) -> None:
        self.ok, self.error = error is None, error
        if self._done is not None and not self._done.done():
            self._done.set_result(None)


class GroupCommit(Generic[T]):
    def __init__(self, sink: Callable[[list[T], int], Awaitable[object]], *, delay_s: float = 0.0,
                 max_items: int = 10_000, max_batch: int | None = None, slots: int | None = 1,
                 max_pending: int | None = None, weight: Callable[[T], int] | None = None,
                 on_settled: Callable[[Batch[T]], None] | None = None, name: str = "group-commit") -> None:
        self.sink, self.delay_s, self.max_items = sink, delay_s, max_items
        self.max_batch = max(max_items, max_batch or max_items)
        self.max_pending, self.weight, self.on_settled, self.name = max_pending, weight, on_settled, name
        self._free = deque(range(slots)) if slots else None  # None: a sink call per batch, no limit
        self._queue: deque[Batch[T]] = deque()  # sealed, then the open one last
        self._open: Batch[T] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task] = set()
        self.waiting = 0  # weight not yet handed to the sink
        self.pending = 0  # weight not yet settled
        self._room = asyncio.Event()
        self._room.set()

    # -- callers -------------------------------------------------------------------------------
    def add(self, items: list[T]) -> Batch[T]:
        """Put ``items`` in the open batch and return it (``await batch.wait()`` for the outcome)."""
        batch = self._open
        if batch is None:
            batch = self._open = Batch()
            self._queue.append(batch)
            self._timer = asyncio.get_running_loop().call_later(self.delay_s, self._seal)
        w = sum(map(self.weight, items)) if self.weight else len(items)
        batch.items.extend(items)
        batch.weight += w
        self.waiting += w
        self.pending += w
        if self.max_pending is not None and self.pending >= self.max_pending:
            self._room.clear()
        if batch.weight >= self.max_items:
            self._seal()
        return batch

    async def submit(self, items: list[T]) -> None:
        """Wait for room, add ``items``, return once their batch is stored (or raise why not)."""
        await self.room()
        await self.add(items).wait()

    async def room(self) -> None:
        while not self._room.is_set():
            await self._room.wait()

    async def drain(self) -> None:
        """Seal the open batch and return once everything added so far is settled."""
        self._seal()
        while self._queue or self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
            await asyncio.sleep(0)

    def drop_open(self) -> list[T]:
        """Forget the open batch (its callers never hear back: e.g. terminals that will resend) and
        return its items."""
        batch = self._open
        if batch is None:
            return []
        self._cancel_timer()
        self._open = None
        self._queue.remove(batch)
        self.waiting -= batch.weight
        self.pending -= batch.weight
        return batch.items

    @property
    def in_flight(self) -> list[asyncio.Task]:
        return list(self._running)

    # -- sealing and dispatch ------------------------------------------------------------------
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _seal(self) -> None:
        self._cancel_timer()
        if self._open is not None:
            self._open.sealed = True
            self._open = None
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and self._queue[0].sealed and (self._free is None or self._free):
            take = [self._queue.popleft()]
            weight = take[0].weight
            while self._queue and self._queue[0].sealed and weight + self._queue[0].weight <= self.max_batch:
                take.append(self._queue.popleft())
                weight += take[-1].weight
            self.waiting -= weight
            slot = self._free.popleft() if self._free is not None else 0
            task = asyncio.get_running_loop().create_task(self._run(take, slot, weight), name=self.name)
            self._running.add(task)

    async def _run(self, batches: list[Batch[T]], slot: int, weight: int) -> None:
        items = batches[0].items if len(batches) == 1 else [i for b in batches for i in b.items]
        error: BaseException | None = None
        try:
            await self.sink(items, slot)
        except BaseException as exc:  # the callers hear it (a cancelled sink too); the next batches go on
            error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self._running.discard(asyncio.current_task())
            if self._free is not None:
                self._free.append(slot)
            self.pending -= weight
            if self.max_pending is None or self.pending < self.max_pending:
                self._room.set()
            for batch in batches:
                batch._settle(error)
                if self.on_settled is not None:
                    self.on_settled(batch)
            self._dispatch()
