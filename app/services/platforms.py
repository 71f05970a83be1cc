"""Upper platforms (GB/T 28181 cascade, this platform as the lower one): configuration, link state, and the
directory each one is shared.

A platform is administered by whoever holds ``manage_devices`` over every division it shares, up to its
secrecy ceiling (a division administrator cannot share what they may not see; a platform sharing nothing
is the root's). The password is sealed with the secret key (AES-GCM): digest authentication needs it in
clear at the SIP side, so it is never only hashed, and it is never returned. The link state columns are
written by the process that runs the SIP server (``runtime/cascade.py``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models_devices import UpperPlatform
from app.domain import gb28181_id, sharing
from app.domain.access import Scope
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services import divisions

P = UpperPlatform
PUBLIC = (
    P.id, P.name, P.sip_id, P.domain, P.host, P.port, P.transport, P.local_id, P.register_expires_s,
    P.keepalive_s, P.keepalive_misses, P.charset, P.enabled, P.share_divisions, P.share_max_secrecy,
    P.share_classes, P.share_kinds, P.relay_positions, P.relay_alarms, P.link_state, P.link_since,
    P.registered_at, P.last_keepalive_at, P.last_error, P.created_at, P.updated_at,
)
TOPIC = "platforms"  # {id, op}: the cascade runtime reloads its links
KINDS = ("fixed", "ptz", "dome")


# --- the sealed password -------------------------------------------------------------------------------

def _key(secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"upper-platform-password:" + secret.encode()).digest())


def seal(secret: str, sip_id: str, password: str) -> str:
    nonce = os.urandom(12)
    blob = nonce + _key(secret).encrypt(nonce, password.encode(), sip_id.encode())
    return base64.urlsafe_b64encode(blob).decode()


def unseal(secret: str, sip_id: str, sealed: str) -> str | None:
    """The password, or None when it was sealed with another secret key (then it must be set again)."""
    try:
        blob = base64.urlsafe_b64decode(sealed)
        return _key(secret).decrypt(blob[:12], blob[12:], sip_id.encode()).decode()
    except (ValueError, InvalidTag):
        return None


# --- who administers a platform ------------------------------------------------------------------------

def _manages(scope: Scope, divisions_: list[str], secrecy: int) -> bool:
    if not divisions_:  # shares nothing: the root's
        return scope.everywhere
    return all(scope.covers(d, secrecy) for d in divisions_)


def _visible(scope: Scope, row: dict) -> bool:
    return _manages(scope, list(row["share_divisions"] or []), 0)


async def list_platforms(conn: AsyncConnection, scope: Scope) -> list[dict]:
    rows = await conn.execute(select(*PUBLIC).order_by(P.id))
    return [dict(r) for r in rows.mappings() if _visible(scope, dict(r))]


async def _row(conn: AsyncConnection, scope: Scope, platform_id: int, lock: bool = False) -> dict:
    stmt = select(*PUBLIC).where(P.id == platform_id)
    row = (await conn.execute(stmt.with_for_update() if lock else stmt)).mappings().first()
    if row is None or not _visible(scope, dict(row)):
        raise NotFound(f"upper platform {platform_id} not found")
    return dict(row)


async def get(conn: AsyncConnection, scope: Scope, platform_id: int) -> dict:
    return await _row(conn, scope, platform_id)


async def _check(conn: AsyncConnection, scope: Scope, values: dict) -> dict:
    """Validate the fields given; the sharing rule must be the caller's to give."""
    for f in ("sip_id", "local_id"):
        if values.get(f) is not None:
            gb28181_id.validate(values[f])
    if "share_divisions" in values:
        codes = [await divisions.require(conn, d, field="share_divisions") for d in values["share_divisions"]]
        values["share_divisions"] = sorted(set(codes))
    if values.get("share_kinds") is not None and not set(values["share_kinds"]) <= set(KINDS):
        raise InvalidInput(f"camera kinds are {', '.join(KINDS)}", field="share_kinds")
    if values.get("share_classes") is not None and not set(values["share_classes"]) <= {1, 2, 3}:
        raise InvalidInput("camera classes are 1, 2 and 3", field="share_classes")
    return values


def _require_manages(scope: Scope, row: dict) -> None:
    if not _manages(scope, list(row["share_divisions"] or []), row["share_max_secrecy"]):
        raise Forbidden("the sharing rule reaches beyond your divisions or secrecy level", field="share_divisions")


async def create(conn: AsyncConnection, scope: Scope, values: dict, *, secret: str, by: str) -> dict:
    values = await _check(conn, scope, dict(values))
    _require_manages(scope, {"share_divisions": values.get("share_divisions", []),
                             "share_max_secrecy": values.get("share_max_secrecy", 0)})
    if (await conn.execute(select(P.id).where(P.sip_id == values["sip_id"]))).first():
        raise Conflict(f"upper platform {values['sip_id']} is configured already", field="sip_id")
    password = values.pop("password")
    new_id = (await conn.execute(insert(P).values(
        **values, password_sealed=seal(secret, values["sip_id"], password), created_by=by,
        link_state="offline" if values.get("enabled", True) else "disabled").returning(P.id))).scalar_one()
    return await _row(conn, scope, new_id)


async def update_platform(conn: AsyncConnection, scope: Scope, platform_id: int, changes: dict, *,
                          secret: str) -> tuple[dict, dict]:
    """(before, after): the caller must administer the rule before and after the change."""
    before = await _row(conn, scope, platform_id, lock=True)
    _require_manages(scope, before)
    values = await _check(conn, scope, dict(changes))
    _require_manages(scope, {**before, **values})
    if "sip_id" in values and values["sip_id"] != before["sip_id"] and \
            (await conn.execute(select(P.id).where(P.sip_id == values["sip_id"]))).first():
        raise Conflict(f"upper platform {values['sip_id']} is configured already", field="sip_id")
    password = values.pop("password", None)
    sip_id = values.get("sip_id", before["sip_id"])
    if password is None and sip_id != before["sip_id"]:  # the seal is bound to the id: carry it over
        old = (await conn.execute(select(P.password_sealed).where(P.id == platform_id))).scalar_one()
        password = unseal(secret, before["sip_id"], old)
        if password is None:
            raise InvalidInput("give the password again with a new SIP id", field="password")
    if password is not None:
        values["password_sealed"] = seal(secret, sip_id, password)
    if values.get("enabled") is False:
        values["link_state"] = "disabled"
    elif values.get("enabled") is True and before["link_state"] == "disabled":
        values["link_state"] = "offline"
    if values:
        await conn.execute(update(P).where(P.id == platform_id).values(**values, updated_at=text("now()")))
    after = dict((await conn.execute(select(*PUBLIC).where(P.id == platform_id))).mappings().one())
    return before, after


async def delete_platform(conn: AsyncConnection, scope: Scope, platform_id: int) -> dict:
    row = await _row(conn, scope, platform_id, lock=True)
    _require_manages(scope, row)
    await conn.execute(delete(P).where(P.id == platform_id))
    return row


# --- the cascade runtime's side ------------------------------------------------------------------------

async def enabled_links(conn: AsyncConnection) -> list[dict]:
    """Every enabled platform with its sealed password (the runtime unseals it)."""
    rows = await conn.execute(select(*PUBLIC, P.password_sealed).where(P.enabled.is_(True)).order_by(P.id))
    return [dict(r) for r in rows.mappings()]


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


async def write_link_state(conn: AsyncConnection, platform_id: int, state: str, since: float, error: str | None,
                           registered_at: float | None, last_keepalive: float | None) -> None:
    """The link's state as the SIP side sees it (an enabled platform only: disabling wins over a late write)."""
    await conn.execute(update(P).where(P.id == platform_id, P.enabled.is_(True)).values(
        link_state=state, link_since=_ts(since), last_error=error, registered_at=_ts(registered_at),
        last_keepalive_at=_ts(last_keepalive)))


def rule_of(row: dict) -> sharing.SharingRule:
    return sharing.SharingRule(
        divisions=tuple(row["share_divisions"] or ()), max_secrecy=row["share_max_secrecy"],
        classes=frozenset(row["share_classes"]) if row.get("share_classes") is not None else None,
        kinds=frozenset(row["share_kinds"]) if row.get("share_kinds") is not None else None)


async def shared_directory(conn: AsyncConnection, platform_id: int, local_id: str) -> list[dict]:
    """The catalog items the platform is shared: its divisions as a business tree, then its cameras."""
    row = (await conn.execute(select(*PUBLIC).where(P.id == platform_id))).mappings().first()
    if row is None:
        return []
    rule = rule_of(dict(row))
    prefixes = rule.prefixes
    if not rule.divisions:
        return sharing.directory(rule, local_id, row["name"], [], [])
    like = " OR ".join(f"{{col}} LIKE :p{i}" for i in range(len(prefixes)))
    params = {f"p{i}": f"{p}%" for i, p in enumerate(prefixes)}
    divs = await conn.execute(text(
        f"SELECT code, name, parent_code FROM division WHERE {like.format(col='code')}"), params)
    cams = await conn.execute(text(
        "SELECT c.id, c.gb_id, c.name, c.division_code, c.secrecy, c.cls, c.kind, c.status, c.owner,"
        " ST_X(c.location) AS lon, ST_Y(c.location) AS lat, d.manufacturer, d.model"
        " FROM camera c LEFT JOIN gb_device d ON d.gb_id = c.parent_device"
        f" WHERE ({like.format(col='c.division_code')}) AND c.secrecy <= :sec AND c.status <> 'planned'"
        " ORDER BY c.division_code, c.gb_id, c.id"), {**params, "sec": rule.max_secrecy})
    return sharing.directory(
        rule, local_id, row["name"],
        [sharing.Division(d["code"], d["name"], d["parent_code"]) for d in divs.mappings()],
        [sharing.Camera(**c) for c in cams.mappings()])
