"""Reporting positions over HTTP: the OsmAnd/Traccar device path and the own batch JSON API.

"Accepted" means committed: both answer only after the pipeline's persist step stored the fixes,
and fail with ``Unavailable`` (503, the client retries) when it could not. What is refused is refused
before, with its reason (a 4xx, or per index in the batch answer); nothing is dropped after the decision.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.access import Perm, Principal
from app.domain.errors import Forbidden, InvalidInput, Unavailable
from app.domain.fix import Fix, validate_fix
from app.ingest import batch_json, osmand
from app.ingest.coalesce import Coalescer
from app.ingest.pipeline import Batch, NotStored, Pipeline
from app.services.admission import Admission


class IngestRuntime(Protocol):
    """What reporting needs of the process's ingest (``app.runtime.ingest.IngestRuntime``)."""

    max_age: timedelta
    devices: Admission
    coalescer: Coalescer
    pipeline: Pipeline


def _stored_or_raise(batch: Batch) -> None:
    if batch.fixes and not batch.persisted:
        raise Unavailable("positions could not be stored now; send them again")


async def osmand_report(rt: IngestRuntime, query: dict[str, str], body: bytes, content_type: str,
                        token: str | None) -> Fix:
    """One OsmAnd / Traccar Client report; raises ``FixRejected`` (400) with the reason."""
    fix = validate_fix(osmand.decode_request(query, body, content_type), max_age=rt.max_age)
    await rt.devices.check(fix.key, token)
    try:
        # One fix per request: stored together with the concurrent ones, not judged again (answered on this).
        await rt.coalescer.sink([fix], validated=True)
    except NotStored:
        raise Unavailable("position could not be stored now; send it again") from None
    return fix


async def own_devices(conn: AsyncConnection, principal: Principal) -> set[str] | None:
    """Device ids (protocol ``api``) this user may report for; None = any (device managers)."""
    now = datetime.now(UTC)
    if principal.can(Perm.MANAGE_DEVICES, now):
        return None
    if not principal.can(Perm.REPORT_POSITION, now):
        raise Forbidden("permission 'report_position' or 'manage_devices' required")
    # A field officer reports for himself (``user-<name>``) and for the target of his own unit.
    rows = await conn.execute(text("SELECT t.external_id FROM unit u JOIN target t ON t.id = u.target_id "
                                   "WHERE u.user_id = :u AND t.protocol = 'api'"), {"u": principal.user_id})
    return {f"user-{principal.username}", *(r[0] for r in rows)}


async def report_batch(rt: IngestRuntime, engine: AsyncEngine, principal: Principal, body: object,
                       max_items: int) -> dict:
    items = body.get("positions") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise InvalidInput("body must be a list of positions or {\"positions\": [...]}", field="positions")
    if len(items) > max_items:
        raise InvalidInput(f"at most {max_items} positions per request", field="positions")
    allowed = None
    if not principal.can(Perm.MANAGE_DEVICES, datetime.now(UTC)):  # a device manager needs no query
        async with engine.connect() as conn:  # not held while the writer waits for its flush
            allowed = await own_devices(conn, principal)
    good, rejects = batch_json.decode_batch(items, max_age=rt.max_age)  # decoded and validated: one pass
    if allowed is not None:
        for i, fix in [g for g in good if g[1].device_id not in allowed]:
            rejects.append(batch_json.Reject(i, "not_permitted", f"you may not report for target {fix.device_id!r}",
                                             "target"))
        good = [g for g in good if g[1].device_id in allowed]
    # The same target and time twice in one request is one position: the later items are duplicates, stored
    # once (the writer keeps one row per target and time), counted apart from the accepted ones.
    seen: dict[tuple[str, datetime], int] = {}
    duplicates: list[dict] = []
    unique: list[Fix] = []
    for i, fix in good:
        first = seen.setdefault((fix.device_id, fix.fix_time), i)
        if first == i:
            unique.append(fix)
        else:
            duplicates.append({"index": i, "duplicate_of": first})
    batch = await rt.pipeline.submit(unique, validated=True)
    _stored_or_raise(batch)
    rejects.sort(key=lambda r: r.index)
    return {"received": len(items), "accepted": len(unique), "duplicates": len(duplicates),
            "duplicate_items": duplicates,
            "rejected": [{"index": r.index, "reason": r.reason, "message": r.message,
                          **({"field": r.field} if r.field else {})} for r in rejects]}

