"""Many small submits (one fix per HTTP report) → few pipeline runs.

Per-fix overhead of a pipeline run (area lookup, detectors, a writer entry, a future) dominates when
each report carries one fix. Fixes arriving on the same loop turn, or while earlier runs wait for their
commit, go together into one run (``batching.GroupCommit``, no limit on runs in flight). Each caller
still returns only once its own fixes are stored (or raises ``NotStored``), so acknowledgement semantics
are unchanged. Fixes the caller validated already (``validated=True``: it answered on that decision) run
apart from the others, so the pipeline never re-judges them (a second clock reading could refuse what
was accepted).
"""

from __future__ import annotations

from app.domain.fix import Fix
from app.ingest.batching import GroupCommit
from app.ingest.pipeline import NotStored, Pipeline


class Coalescer:
    def __init__(self, pipeline: Pipeline, max_fixes: int = 10_000) -> None:
        self.pipeline = pipeline

        def runs(validated: bool) -> GroupCommit[Fix]:
            async def run(fixes: list[Fix], _slot: int) -> None:
                try:
                    await pipeline.sink(fixes, validated=validated)
                except NotStored:
                    raise
                except Exception as exc:  # a bug: nobody in this run is acknowledged
                    raise NotStored(str(exc)) from exc
            return GroupCommit(run, delay_s=0.0, max_items=max_fixes, slots=None, name="ingest-coalescer")

        self._runs = {False: runs(False), True: runs(True)}

    async def sink(self, fixes: list[Fix], *, validated: bool = False) -> None:
        if fixes:
            await self._runs[validated].add(fixes).wait()

    async def close(self) -> None:
        for runs in self._runs.values():
            await runs.drain()
