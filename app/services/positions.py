"""Reporting positions over HTTP: the OsmAnd/Traccar device path and the own batch JSON API.

"Accepted" means committed: both answer only after the pipeline's persist step stored the fixes,
and fail with ``Unavailable`` (503, the client retries) when it could not.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.access import Perm, Principal
from app.domain.errors import Forbidden, InvalidInput, Unavailable
from app.domain.fix import Fix, validate_fix
from app.ingest import batch_json, osmand
from app.ingest.pipeline import Batch, NotStored
from app.services.ingest_runtime import IngestRuntime


def _stored_or_raise(batch: Batch) -> None:
    if batch.fixes and not batch.persisted:
        raise Unavailable("positions could not be stored now; send them again")


async def osmand_report(rt: IngestRuntime, query: dict[str, str], body: bytes, content_type: str,
                        token: str | None) -> Fix:
    """One OsmAnd / Traccar Client report; raises ``FixRejected`` (400) with the reason."""
    fix = validate_fix(osmand.decode_request(query, body, content_type))
    await rt.devices.check(fix.key, token)
    try:
        await rt.coalescer.sink([fix])  # one fix per request: stored together with the concurrent ones
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
    good, rejects = batch_json.decode_batch(items)  # decoded and validated: one pass
    if allowed is not None:
        for i, fix in [g for g in good if g[1].device_id not in allowed]:
            rejects.append(batch_json.Reject(i, "not_permitted", f"you may not report for target {fix.device_id!r}",
                                             "target"))
        good = [g for g in good if g[1].device_id in allowed]
    batch = await rt.pipeline.submit([f for _, f in good], validated=True)
    _stored_or_raise(batch)
    rejects.sort(key=lambda r: r.index)
    return {"received": len(items), "accepted": len(batch.fixes),
            "rejected": [{"index": r.index, "reason": r.reason, "message": r.message,
                          **({"field": r.field} if r.field else {})} for r in rejects]}

