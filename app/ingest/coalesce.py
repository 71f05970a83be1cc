"""Many small submits (one fix per JT/T 808 message or HTTP report) → few pipeline runs.

Per-fix overhead of a pipeline run (area lookup, detectors, a writer entry, a future) dominates when
each device message carries one fix. Fixes arriving while earlier runs wait for their commit are
gathered into the next run; several runs may be in flight. Each caller still returns only once its
own fixes are stored (or raises ``NotStored``), so acknowledgement semantics are unchanged.
"""

from __future__ import annotations

import asyncio
from collections import deque

from app.domain.fix import Fix
from app.ingest.pipeline import NotStored, Pipeline


class Coalescer:
    def __init__(self, pipeline: Pipeline, max_fixes: int = 10_000) -> None:
        self.pipeline, self.max_fixes = pipeline, max_fixes
        self._waiting: deque[tuple[list[Fix], asyncio.Future]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._runs: set[asyncio.Task] = set()

    async def sink(self, fixes: list[Fix]) -> None:
        if not fixes:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="ingest-coalescer")
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append((fixes, fut))
        self._wake.set()
        await fut

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(0)  # let the other ready connections add theirs first
            while self._waiting:
                take, n = [], 0
                while self._waiting and (not take or n + len(self._waiting[0][0]) <= self.max_fixes):
                    item = self._waiting.popleft()
                    take.append(item)
                    n += len(item[0])
                task = asyncio.create_task(self._run(take))
                self._runs.add(task)
                task.add_done_callback(self._runs.discard)

    async def _run(self, items: list[tuple[list[Fix], asyncio.Future]]) -> None:
        try:
            await self.pipeline.sink([f for fixes, _ in items for f in fixes])
        except Exception as exc:  # NotStored or a bug: nobody in this run is acknowledged
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(exc if isinstance(exc, NotStored) else NotStored(str(exc)))
            return
        for _, fut in items:
            if not fut.done():
                fut.set_result(None)

    async def close(self) -> None:
        while self._waiting or self._runs:
            await asyncio.gather(*list(self._runs), return_exceptions=True)
            await asyncio.sleep(0)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
