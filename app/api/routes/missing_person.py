"""Missing person search (走失人员查找): from a last-seen point and time, the cameras that could have seen the
person since, their recordings and person/face records in that window; a reason is required and every search
is audited (who, where, when, why), as the plate search is."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from app.api.deps import Authorized, CallsDep, ConnDep, require
from app.api.outbox import OutboxDep
from app.api.schemas.missing_person import MissingPersonIn, MissingPersonOut
from app.domain.access import Perm
from app.domain.errors import InvalidInput
from app.services import missing_person

router = APIRouter(tags=["missing-person"])


@router.post("/api/v1/missing-person/search", operation_id="missing_person_search",
             response_model=MissingPersonOut)
async def missing_person_search(body: MissingPersonIn, conn: ConnDep, calls: CallsDep, box: OutboxDep,
                                auth: Authorized = require(Perm.VIEW_RECORDINGS)) -> dict:
    """The streets a person on foot could have reached since last seen, the in-scope cameras seeing them by
    earliest possible arrival, each with its recordings (its device asked) and person/face records in the
    window. Audited (``missing_person_search``) with the reason."""
    why = body.reason.strip()
    if not why:
        raise InvalidInput("reason: say why you search", field="reason")
    now = datetime.now(UTC)
    until = min(body.until or now, now)
    if body.last_seen >= now:
        raise InvalidInput("the last-seen time is in the future", field="last_seen")
    result = await missing_person.reachable_cameras(conn, auth.scope, body.lon, body.lat, body.last_seen, until,
                                                    body.speed_ms, body.max_radius_m)
    divisions = sorted({c["division_code"] for c in result["cameras"] if c.get("division_code")})
    box.audit("missing_person_search", auth, object_type="point", object_id=f"{body.lon:.6f},{body.lat:.6f}",
              reason=why, divisions=divisions,
              detail={"last_seen": body.last_seen.isoformat(), "until": until.isoformat(),
                      "speed_ms": body.speed_ms, "reach_m": result["reach_m"], "incident_id": body.incident_id,
                      "cameras": [c["camera_id"] for c in result["cameras"]],
                      "records": sum(len(c["records"]) for c in result["cameras"])})
    await box.commit()
    await conn.close()  # the devices may take seconds: hold no pooled connection meanwhile
    await missing_person.ask_recordings(calls, result["cameras"], until)
    return result
