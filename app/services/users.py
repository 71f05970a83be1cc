"""Users, roles and grants (administration use cases)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import AppUser, Division, Grant, Role
from app.domain import division_code
from app.domain.access import ROLES
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.services.security import hash_password


async def ensure_roles(conn: AsyncConnection) -> None:
    """The role table mirrors app.domain.access.ROLES (the code is the source of truth)."""
    for name, (zh, en, perms) in ROLES.items():
        values = {"label_zh": zh, "label_en": en, "permissions": sorted(str(p) for p in perms)}
        await conn.execute(insert(Role).values(name=name, **values)
                           .on_conflict_do_update(index_elements=["name"], set_=values))


async def create_user(conn: AsyncConnection, username: str, password: str, role: str, division: str = "000000",
                      display_name: str | None = None, valid_until: datetime | None = None,
                      max_secrecy: int = 0, granted_by: int | None = None) -> int:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role")
    division = division_code.validate(division)
    if (await conn.execute(select(AppUser.id).where(AppUser.username == username))).first():
        raise Conflict(f"user {username!r} exists", field="username")
    if not (await conn.execute(select(Division.code).where(Division.code == division))).first():
        if division != "000000":
            raise NotFound(f"division {division} not found", field="division")
        await conn.execute(insert(Division).values(code="000000", name="中央", name_en="Central", level=1)
                           .on_conflict_do_nothing())
    await ensure_roles(conn)
    user_id = (await conn.execute(insert(AppUser).values(
        username=username, password_hash=hash_password(password), display_name=display_name or username)
        .returning(AppUser.id))).scalar_one()
    await conn.execute(insert(Grant).values(
        user_id=user_id, role_name=role, division_code=division, valid_until=valid_until, max_secrecy=max_secrecy,
        kind="full" if division == "000000" else ("timeboxed" if valid_until else "regional"),
        approved_by=granted_by))
    return user_id

