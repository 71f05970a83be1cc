"""The ingest's one batching primitive (``app.ingest.batching``), without a database."""

from __future__ import annotations

import asyncio

import pytest

from app.ingest.batching import GroupCommit


async def turns(until) -> None:
    """Let the loop run until ``until()`` holds (bounded: a few hundred turns, no wall-clock wait)."""
    for _ in range(500):
        if until():
            return
        await asyncio.sleep(0)
    raise AssertionError("the loop never got there")


class Sink:
    def __init__(self, fail_on: int | None = None) -> None:
        self.calls: list[tuple[list[int], int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_on = fail_on

    async def __call__(self, items: list[int], slot: int) -> None:
        self.calls.append((list(items), slot))
        await self.gate.wait()
        if self.fail_on in items:
            raise ValueError("refused")


async def test_callers_of_one_loop_turn_share_one_sink_call():
    sink = Sink()
    gc = GroupCommit(sink, delay_s=0.0)
    await asyncio.gather(*(gc.submit([i]) for i in range(50)))
    assert [sorted(items) for items, _ in sink.calls] == [list(range(50))]


async def test_batches_grow_while_every_slot_is_busy():
    sink = Sink()
    sink.gate.clear()  # the first commit hangs
    gc = GroupCommit(sink, delay_s=0.0, max_items=10, max_batch=1000, slots=1)
    first = asyncio.ensure_future(gc.submit([0]))
    await turns(lambda: len(sink.calls) == 1)  # the first commit is in the sink
    later = [asyncio.ensure_future(gc.submit(list(range(1 + 10 * k, 11 + 10 * k)))) for k in range(20)]
    await turns(lambda: gc.waiting == 200)
    assert len(sink.calls) == 1  # one slot: the others wait, sealed
    sink.gate.set()
    await asyncio.gather(first, *later)
    assert len(sink.calls) == 2 and len(sink.calls[1][0]) == 200  # all waiting batches in one commit


async def test_a_failed_commit_fails_its_callers_only():
    sink = Sink(fail_on=3)
    gc = GroupCommit(sink, delay_s=0.0, max_items=5, slots=2)
    results = await asyncio.gather(*(gc.submit([i]) for i in range(10)), return_exceptions=True)
    failed = {i for i, r in enumerate(results) if isinstance(r, ValueError)}
    assert failed == set(range(5))  # 0..4 were one batch with the refused item; 5..9 are stored
    assert {slot for _, slot in sink.calls} <= {0, 1}


async def test_room_holds_producers_over_max_pending():
    sink = Sink()
    sink.gate.clear()
    gc = GroupCommit(sink, delay_s=0.0, max_items=100, max_pending=100)
    gc.add(list(range(100)))
    waiter = asyncio.ensure_future(gc.room())
    await turns(lambda: len(sink.calls) == 1)
    assert not waiter.done()
    sink.gate.set()
    await asyncio.wait_for(waiter, 1)


async def test_a_cancelled_caller_does_not_cancel_the_commit_and_drop_open_forgets():
    sink = Sink()
    sink.gate.clear()
    gc = GroupCommit(sink, delay_s=0.0, slots=1)
    caller = asyncio.ensure_future(gc.submit([1]))
    await turns(lambda: len(sink.calls) == 1)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    gc.add([2]).parties.add("conn")
    sink.gate.set()
    await gc.drain()
    assert [items for items, _ in sink.calls] == [[1], [2]]
    gc2 = GroupCommit(Sink(), delay_s=10.0)
    gc2.add([7])
    assert gc2.drop_open() == [7] and gc2.pending == 0
