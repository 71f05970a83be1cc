"""Upper platforms this platform registers to (GB/T 28181 cascade, 下级 → 上级): list, create, change, delete.

Needs ``manage_devices`` over every division a platform shares (services/platforms.py); every change is
audited (never the password) and published on ``platforms``, so the process running the SIP server
re-registers, re-shares or unregisters the link at once. The link state comes from that process.
"""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import Authorized, ConnDep, IdPath, SettingsDep, require
from app.api.outbox import Outbox, OutboxDep
from app.api.schemas.platforms import Platform, PlatformCreate, PlatformList, PlatformUpdate
from app.domain.access import Perm
from app.services import platforms

router = APIRouter(prefix="/api/v1/platforms", tags=["platforms"])


def _audit(box: Outbox, action: str, auth: Authorized, row: dict, **detail) -> None:
    box.audit(action, auth, object_type="upper_platform", object_id=str(row["id"]),
              divisions=sorted(row["share_divisions"] or []), detail={"sip_id": row["sip_id"], **detail})
    box.announce(platforms.TOPIC, {"id": row["id"], "op": action})


@router.get("", operation_id="list_platforms", response_model=PlatformList)
async def list_platforms(conn: ConnDep, auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    return {"platforms": await platforms.list_platforms(conn, auth.scope)}


@router.post("", operation_id="create_platform", status_code=201, response_model=Platform)
async def create_platform(body: PlatformCreate, conn: ConnDep, box: OutboxDep, settings: SettingsDep,
                          auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    values = body.model_dump(exclude_none=True)
    row = await platforms.create(conn, auth.scope, values, secret=settings.secret_key,
                                 by=auth.principal.username)
    _audit(box, "platform_create", auth, row, host=row["host"], share_divisions=row["share_divisions"],
           share_max_secrecy=row["share_max_secrecy"])
    await box.commit()
    return row


@router.get("/{platform_id}", operation_id="get_platform", response_model=Platform)
async def get_platform(platform_id: IdPath, conn: ConnDep, auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    return await platforms.get(conn, auth.scope, platform_id)


@router.patch("/{platform_id}", operation_id="update_platform", response_model=Platform)
async def update_platform(platform_id: IdPath, body: PlatformUpdate, conn: ConnDep, box: OutboxDep,
                          settings: SettingsDep, auth: Authorized = require(Perm.MANAGE_DEVICES)) -> dict:
    changes = body.model_dump(exclude_unset=True)
    before, after = await platforms.update_platform(conn, auth.scope, platform_id, changes,
                                                    secret=settings.secret_key)
    shared = {k: after[k] for k in ("share_divisions", "share_max_secrecy", "share_classes", "share_kinds")
              if k in changes}
    _audit(box, "platform_update", auth, {**after, "share_divisions": sorted(
        set(before["share_divisions"] or []) | set(after["share_divisions"] or []))},
        fields=sorted(changes), **shared)
    await box.commit()
    return after


@router.delete("/{platform_id}", operation_id="delete_platform", status_code=204)
async def delete_platform(platform_id: IdPath, conn: ConnDep, box: OutboxDep,
                          auth: Authorized = require(Perm.MANAGE_DEVICES)) -> None:
    """The link unregisters (``Expires: 0``) and stops."""
    row = await platforms.delete_platform(conn, auth.scope, platform_id)
    _audit(box, "platform_delete", auth, row)
    await box.commit()
