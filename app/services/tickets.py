"""One-time tickets: how a page opened in a new browser tab (which cannot send the bearer header) is
authorised without a bearer token in its URL.

The signed-in page asks for a ticket (``POST /api/v1/auth/ticket``, bearer header) for one path and opens
``path?ticket=…``. The ticket is good once, for that path, for ``TTL`` seconds, and only while the user's
tokens are not revoked. Only its SHA-256 is stored: a database reader cannot use it. Stored in PostgreSQL,
so any API process can redeem a ticket another one issued.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.models import AppUser, AuthTicket
from app.domain.errors import InvalidInput
from app.services.security import AuthError

TTL = timedelta(seconds=60)
# The pages a browser opens in a new tab; nothing else is reachable with a ticket.
PATHS = frozenset({"/api/v1/planning/report/index.html"})


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue(conn: AsyncConnection, user_id: int, path: str) -> str:
    if path not in PATHS:
        raise InvalidInput(f"no ticket for {path}; tickets open: {', '.join(sorted(PATHS))}", field="path")
    now = datetime.now(UTC)
    version = (await conn.execute(select(AppUser.token_version).where(AppUser.id == user_id))).scalar_one()
    ticket = secrets.token_urlsafe(32)
    await conn.execute(delete(AuthTicket).where(AuthTicket.expires_at < now))  # the table stays tiny
    await conn.execute(insert(AuthTicket).values(digest=_digest(ticket), user_id=user_id, token_version=version,
                                                 path=path, expires_at=now + TTL))
    return ticket


async def redeem(conn: AsyncConnection, ticket: str, path: str) -> tuple[int, int]:
    """(user id, token version) of a valid ticket for ``path``, which is used up (committed) whatever the
    outcome: a second use, an expired ticket or another path is refused."""
    row = (await conn.execute(delete(AuthTicket).where(AuthTicket.digest == _digest(ticket))
                              .returning(AuthTicket.user_id, AuthTicket.token_version, AuthTicket.path,
                                         AuthTicket.expires_at))).first()
    await conn.commit()
    if row is None or row.path != path or row.expires_at <= datetime.now(UTC):
        raise AuthError("ticket invalid, expired or already used")
    return row.user_id, row.token_version
