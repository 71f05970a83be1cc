"""Background planning jobs with progress, one asyncio task each, state kept in ``planning_job``.

The job's own work runs in one transaction; progress is written through a separate short
transaction so readers see it while the job runs. One runner per engine (per process).

A job belongs to its creator and is read by them or by whoever holds exactly the same scope; anyone
else gets 404. Its result is cut to that scope: a recompute refreshes the shared stored results of the
whole city, but the job reports only what its owner may see.
"""

from __future__ import annotations

import asyncio
import traceback

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.access import Rule, Scope
from app.domain.errors import Conflict, DomainError, InvalidInput, NotFound

KINDS = ("full", "coverage", "duplicates", "kpi", "placement")
# Unfinished jobs one user may have: jobs run one at a time, so more would only queue up behind them.
MAX_OPEN_PER_USER = 3


def scope_json(scope: Scope) -> list[list]:
    return [[r.prefix, r.max_secrecy] for r in scope.rules]


def scope_from_json(rules: list) -> Scope:
    return Scope.of([Rule(str(p), int(s)) for p, s in rules])


async def run_kind(conn: AsyncConnection, kind: str, params: dict, progress, scope: Scope) -> dict:
    from app.services import coverage_run, duplicates_run, kpi_run, placement_run, planning_report

    if kind == "placement":
        return await placement_run.plan(conn, scope=scope, **params)
    if kind in ("full", "coverage"):

        async def sub(f: float, s: str) -> None:
            await progress(f * (0.7 if kind == "full" else 1.0), s)

        await coverage_run.run_coverage(conn, progress=sub)
    if kind in ("full", "duplicates"):
        await progress(0.7 if kind == "full" else 0.0, "duplicates")
        await duplicates_run.run_duplicates(conn)
    if kind in ("full", "kpi"):
        await progress(0.9 if kind == "full" else 0.0, "kpi")
        await kpi_run.compute_kpis(conn, **params)
    return await planning_report.scoped_summary(conn, scope, kind)


class JobRunner:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.tasks: dict[int, asyncio.Task] = {}
        self._lock = asyncio.Lock()  # one analysis at a time: they share the machine's cores

    async def submit(self, kind: str, params: dict | None = None, *, scope: Scope,
                     owner_id: int | None = None) -> int:
        if kind not in KINDS:
            raise InvalidInput(f"job kind must be one of {', '.join(KINDS)}", field="kind")
        params = params or {}
        async with self.engine.begin() as conn:
            if owner_id is not None:
                # One row lock per user: two submits at once cannot both pass the count.
                await conn.execute(text("SELECT 1 FROM app_user WHERE id = :u FOR UPDATE"), {"u": owner_id})
                open_jobs = (await conn.execute(text(
                    "SELECT count(*) FROM planning_job WHERE owner_id = :u AND status IN ('queued', 'running')"),
                    {"u": owner_id})).scalar_one()
                if open_jobs >= MAX_OPEN_PER_USER:
                    raise Conflict(f"{open_jobs} planning jobs of yours are still queued or running; "
                                   "wait for one to finish")
            job_id = (
                await conn.execute(
                    text(
                        "INSERT INTO planning_job (kind, params, owner_id, scope)"
                        " VALUES (:k, CAST(:p AS jsonb), :o, CAST(:s AS jsonb)) RETURNING id"
                    ),
                    {"k": kind, "p": orjson.dumps(params).decode(), "o": owner_id,
                     "s": orjson.dumps(scope_json(scope)).decode()},
                )
            ).scalar_one()
        self.tasks[job_id] = asyncio.create_task(self._run(job_id, kind, params, scope))
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

    async def _run(self, job_id: int, kind: str, params: dict, scope: Scope) -> None:
        async with self._lock:
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE planning_job SET status = 'running', started_at = now() WHERE id = :id"),
                    {"id": job_id},
                )
            try:
                async with self.engine.begin() as conn:
                    result = await run_kind(conn, kind, params, lambda f, s: self._progress(job_id, f, s), scope)
                status, error = "done", None
            except DomainError as exc:  # the owner's to fix (e.g. too many candidates): said plainly
                result, status, error = None, "failed", exc.message
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


async def get_job(conn: AsyncConnection, job_id: int, *, user_id: int, scope: Scope) -> dict:
    """The job, for its owner or a reader of exactly its scope; NotFound for anyone else (no hint it exists)."""
    row = (
        (
            await conn.execute(
                text(
                    "SELECT id, kind, status, progress, stage, params, result, error, created_at,"
                    " started_at, finished_at, owner_id, scope "
                    "FROM planning_job WHERE id = :id"
                ),
                {"id": job_id},
            )
        )
        .mappings()
        .first()
    )
    if row is None or not (row["owner_id"] == user_id or scope_from_json(row["scope"]).key == scope.key):
        raise NotFound(f"planning job {job_id} not found")
    out = dict(row)
    del out["scope"]
    return out
