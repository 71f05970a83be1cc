"""User administration, grants and temporary access on request (seed §26), within the admin's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import AppUser, AuditEvent, Grant
from app.db.scoping import scope_sql
from app.domain.access import ROLES, Scope
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services import divisions, security

MAX_REQUEST_DAYS = 30


def _grant_dict(g) -> dict:
    return {k: g[k] for k in ("id", "user_id", "role_name", "division_code", "valid_from", "valid_until",
                              "max_secrecy", "kind", "status", "reason", "requested_by", "approved_by",
                              "created_at")}


async def list_users(conn: AsyncConnection, scope: Scope) -> list[dict]:
    """Users with their grants; a regional administrator sees users granted inside their subtree."""
    users = (await conn.execute(select(AppUser.id, AppUser.username, AppUser.display_name, AppUser.is_active,
                                       AppUser.locked_until).order_by(AppUser.id))).mappings().all()
    grants = (await conn.execute(select(Grant.__table__).order_by(Grant.id))).mappings().all()
    by_user: dict[int, list[dict]] = {}
    for g in grants:
        by_user.setdefault(g["user_id"], []).append(_grant_dict(g))
    # A regional administrator sees the user, and only those of their grants inside the administrator's scope.
    visible = {uid: [g for g in gs if scope.covers(g["division_code"])] for uid, gs in by_user.items()}
    return [{**dict(u), "grants": visible.get(u["id"], [])} for u in users if scope.everywhere or visible.get(u["id"])]


async def _check_division(conn: AsyncConnection, scope: Scope, code: str) -> str:
    code = await divisions.require(conn, code)
    if not scope.covers(code, 0):
        raise Forbidden("you may only grant access inside your own divisions")
    return code


async def add_grant(conn: AsyncConnection, scope: Scope, approver: int, user_id: int, role: str, division: str,
                    valid_from: datetime | None, valid_until: datetime | None, max_secrecy: int,
                    reason: str | None) -> int:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", field="role_name")
    if valid_from and valid_until and valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from", field="valid_until")
    division = await _check_division(conn, scope, division)
    if max_secrecy > scope.secrecy_at(division):
        raise Forbidden("you cannot grant a higher secrecy level than your own in that division")
    if not (await conn.execute(select(AppUser.id).where(AppUser.id == user_id))).first():
        raise NotFound(f"user {user_id} not found")
    kind = "full" if division == "000000" else ("timeboxed" if valid_until else "regional")
    return (await conn.execute(insert(Grant).values(
        user_id=user_id, role_name=role, division_code=division, valid_from=valid_from, valid_until=valid_until,
        max_secrecy=max_secrecy, kind=kind, status="active", reason=reason, approved_by=approver)
        .returning(Grant.id))).scalar_one()


ROOT_DIVISION = "000000"


async def _keep_an_administrator(conn: AsyncConnection, *, without_grant: int | None = None,
                                 without_user: int | None = None) -> None:
    """Refuse a change that would leave the platform with no permanent, platform-wide administrator
    (nobody could then manage users or grants again)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(7291002)"))  # two revokes cannot both pass
    left = (await conn.execute(select(func.count()).select_from(Grant).join(AppUser, AppUser.id == Grant.user_id).where(
        Grant.role_name == "admin", Grant.division_code == ROOT_DIVISION, Grant.status == "active",
        Grant.valid_until.is_(None), AppUser.is_active,
        Grant.id != (without_grant or 0), AppUser.id != (without_user or 0)))).scalar_one()
    if left == 0:
        raise Conflict("the platform must keep at least one platform-wide administrator")


async def revoke_grant(conn: AsyncConnection, scope: Scope, grant_id: int) -> dict:
    g = (await conn.execute(select(Grant.__table__).where(Grant.id == grant_id).with_for_update())).mappings().first()
    if g is None or not scope.covers(g["division_code"]):
        raise NotFound(f"grant {grant_id} not found")
    if g["role_name"] == "admin" and g["division_code"] == ROOT_DIVISION and g["status"] == "active":
        await _keep_an_administrator(conn, without_grant=grant_id)
    await conn.execute(update(Grant).where(Grant.id == grant_id).values(status="revoked"))
    return _grant_dict(g)


async def set_active(conn: AsyncConnection, scope: Scope, user_id: int, active: bool, acting_user: int) -> None:
    if user_id == acting_user and not active:
        raise Conflict("you cannot deactivate your own account")
    users = {u["id"] for u in await list_users(conn, scope)}
    if user_id not in users:
        raise NotFound(f"user {user_id} not found")
    await conn.execute(update(AppUser).where(AppUser.id == user_id)
                       .values(is_active=active, failed_logins=0, locked_until=None))
    if not active:
        await _keep_an_administrator(conn, without_user=user_id)
        await security.revoke_all(conn, user_id)


async def request_access(conn: AsyncConnection, user_id: int, division: str, hours: float, reason: str,
                         role: str = "commander") -> int:
    """A user asks to see an area's cameras for a period, with a reason; nothing is granted yet."""
    if role not in ("commander", "dispatcher", "planner"):
        raise InvalidInput("temporary access is for viewing roles: commander, dispatcher or planner", field="role")
    if not (0 < hours <= MAX_REQUEST_DAYS * 24):
        raise InvalidInput(f"period must be between 0 and {MAX_REQUEST_DAYS * 24} hours", field="hours")
    division = await divisions.require(conn, division)
    pending = (await conn.execute(select(Grant.id).where(
        Grant.user_id == user_id, Grant.division_code == division, Grant.status == "requested"))).first()
    if pending:
        raise Conflict("a request for this division is already pending")
    now = datetime.now(UTC)
    return (await conn.execute(insert(Grant).values(
        user_id=user_id, role_name=role, division_code=division, valid_from=now,
        valid_until=now + timedelta(hours=hours), kind="on_request", status="requested", reason=reason,
        requested_by=user_id).returning(Grant.id))).scalar_one()


async def list_requests(conn: AsyncConnection, scope: Scope, status: str | None = "requested") -> list[dict]:
    q = select(Grant.__table__).where(Grant.kind == "on_request").order_by(Grant.id.desc())
    if status:
        q = q.where(Grant.status == status)
    return [_grant_dict(g) for g in (await conn.execute(q)).mappings() if scope.covers(g["division_code"])]


async def decide_request(conn: AsyncConnection, scope: Scope, approver: int, grant_id: int, approve: bool) -> dict:
    g = (await conn.execute(select(Grant.__table__).where(Grant.id == grant_id, Grant.kind == "on_request")
                            .with_for_update())).mappings().first()
    if g is None or not scope.covers(g["division_code"]):
        raise NotFound(f"request {grant_id} not found")
    if g["status"] != "requested":
        raise Conflict(f"request already {g['status']}")
    if g["user_id"] == approver:
        raise Forbidden("nobody approves their own request")
    # The requested period starts when it is approved, for the length that was asked for.
    now = datetime.now(UTC)
    length = g["valid_until"] - g["valid_from"]
    values = {"status": "active" if approve else "denied", "approved_by": approver}
    if approve:
        values.update(valid_from=now, valid_until=now + length)
    await conn.execute(update(Grant).where(Grant.id == grant_id).values(**values))
    return {**_grant_dict(g), **values}


async def list_audit(conn: AsyncConnection, scope: Scope, *, action: str | None, actor: str | None,
                     object_type: str | None, since: datetime | None, until: datetime | None, limit: int,
                     offset: int) -> dict:
    """Audit events in the reader's scope: a platform-wide auditor reads all, a division administrator the
    events filed under their subtree (their users, grants, call-ups of their cameras...)."""
    conds = []
    if not scope.everywhere:
        cond, params = scope_sql(scope, "d.code")
        conds.append(text(f"EXISTS (SELECT 1 FROM unnest(audit_event.divisions) AS d(code) WHERE {cond})")
                     .bindparams(**params))
    if action:
        conds.append(AuditEvent.action == action)
    if actor:
        conds.append(AuditEvent.actor_name == actor)
    if object_type:
        conds.append(AuditEvent.object_type == object_type)
    if since:
        conds.append(AuditEvent.at >= since)
    if until:
        conds.append(AuditEvent.at < until)
    total = (await conn.execute(select(func.count()).select_from(AuditEvent).where(*conds))).scalar_one()
    rows = (await conn.execute(select(AuditEvent.__table__).where(*conds).order_by(AuditEvent.id.desc())
                               .limit(limit).offset(offset))).mappings().all()
    return {"total": total, "items": [dict(r) for r in rows]}
