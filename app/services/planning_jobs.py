"""Background planning jobs with progress, one asyncio task each, state kept in ``planning_job``.

The job's own work runs in one transaction; progress is written through a separate short
transaction so readers see it while the job runs. One runner per engine (per process).
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.errors import InvalidInput, NotFound

KINDS = ("full", "coverage", "duplicates", "kpi", "placement")


async def run_kind(conn: AsyncConnection, kind: str, params: dict, progress) -> dict:
    from app.services import coverage_run, duplicates_run, kpi_run, placement_run

    if kind == "placement":
        return await placement_run.plan(conn, **params)
    out: dict[str, Any] = {}
    if kind in ("full", "coverage"):

        async def sub(f: float, s: str) -> None:
            await progress(f * (0.7 if kind == "full" else 1.0), s)

        out["coverage"] = await coverage_run.run_coverage(conn, progress=sub)
    if kind in ("full", "duplicates"):
        await progress(0.7 if kind == "full" else 0.0, "duplicates")
        out["duplicates"] = await duplicates_run.run_duplicates(conn)
    if kind in ("full", "kpi"):
        await progress(0.9 if kind == "full" else 0.0, "kpi")
        out["divisions"] = await kpi_run.compute_kpis(conn, **params)
    return out


class JobRunner:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.tasks: dict[int, asyncio.Task] = {}
        self._lock = asyncio.Lock()  # one analysis at a time: they share the machine's cores

    async def submit(self, kind: str, params: dict | None = None) -> int:
        if kind not in KINDS:
            raise InvalidInput(f"job kind must be one of {', '.join(KINDS)}", field="kind")
        params = params or {}
        async with self.engine.begin() as conn:
            job_id = (
                await conn.execute(
                    text(
                        "INSERT INTO planning_job (kind, params) VALUES (:k, CAST(:p AS jsonb)) RETURNING id"
                    ),
                    {"k": kind, "p": orjson.dumps(params).decode()},
                )
            ).scalar_one()
        self.tasks[job_id] = asyncio.create_task(self._run(job_id, kind, params))
        return job_id

    async def wait(self, job_id: int) -> None:
        task = self.tasks.get(job_id)
        if task is not None:
            await task

    async def _progress(self, job_id: int, frac: float, stage: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text("UPDATE planning_job SET progress = :f, stage = :s WHERE id = :id"),
                {"f": round(min(max(frac, 0.0), 1.0), 4), "s": stage[:80], "id": job_id},
            )

    async def _run(self, job_id: int, kind: str, params: dict) -> None:
        async with self._lock:
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE planning_job SET status = 'running', started_at = now() WHERE id = :id"),
                    {"id": job_id},
                )
            try:
                async with self.engine.begin() as conn:
                    result = await run_kind(conn, kind, params, lambda f, s: self._progress(job_id, f, s))
                status, error = "done", None
            except Exception as exc:  # a failed job is reported on the job, never lost
                result, status = None, "failed"
                error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
            async with self.engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE planning_job SET status = CAST(:st AS text), progress = CASE WHEN"
                        " CAST(:st AS text) = 'done' THEN 1 ELSE progress END,"
                        " result = CAST(:r AS jsonb), error = :e, finished_at = now() WHERE id = :id"
                    ),
                    {
                        "st": status,
                        "r": orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY).decode()
                        if result is not None
                        else None,
                        "e": error,
                        "id": job_id,
                    },
                )
        self.tasks.pop(job_id, None)


_RUNNERS: dict[int, JobRunner] = {}


def runner_for(engine: AsyncEngine) -> JobRunner:
    """The process's runner for this engine (jobs are in-process tasks)."""
    key = id(engine)
    if key not in _RUNNERS:
        _RUNNERS[key] = JobRunner(engine)
    return _RUNNERS[key]


async def get_job(conn: AsyncConnection, job_id: int) -> dict:
    row = (
        (
            await conn.execute(
                text(
                    "SELECT id, kind, status, progress, stage, params, result, error, created_at,"
                    " started_at, finished_at "
                    "FROM planning_job WHERE id = :id"
                ),
                {"id": job_id},
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"planning job {job_id} not found")
    return dict(row)
