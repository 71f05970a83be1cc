"""One after-commit outbox per write request: audit rows and bus messages are collected while the route
works, the audit rows are written inside its transaction, then one commit, then this process's caches are
dropped and the messages published (app/api/events.announce). A route thus never publishes a change that
was not committed, nor commits a change without its audit row.

    box.audit("unit_create", auth, object_type="unit", object_id=str(uid))
    box.announce("cameras", message, table="cameras")
    box.after(lambda: ...)          # local cache invalidation, after the commit
    await box.commit()
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from app.api.deps import Authorized, ConnDep, client_ip
from app.api.events import announce
from app.domain.access import Principal
from app.services import audit


@dataclass
class Outbox:
    request: Request
    conn: Any  # AsyncConnection
    _audits: list[tuple[str, dict]] = field(default_factory=list)
    _messages: list[tuple[str, dict | None, str | None]] = field(default_factory=list)
    _after: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)

    def audit(self, action: str, by: Authorized | Principal | None = None, **fields: Any) -> None:
        """An audit event by ``by`` (actor id and name), from the request's client address; ``fields`` as
        ``audit.record`` takes them (object_type, object_id, detail, reason; actor_* to name another)."""
        if by is not None:
            fields.setdefault("actor_id", by.user_id)
            fields.setdefault("actor_name", by.principal.username if isinstance(by, Authorized) else by.username)
        fields.setdefault("client_ip", client_ip(self.request))
        self._audits.append((action, fields))

    def announce(self, topic: str, message: dict | None, table: str | None = None) -> None:
        self._messages.append((topic, message, table))

    def after(self, fn: Callable[[], Awaitable[None] | None]) -> None:
        self._after.append(fn)

    async def commit(self) -> None:
        audits, self._audits = self._audits, []
        for action, fields in audits:
            await audit.record(self.conn, action, **fields)
        await self.conn.commit()
        after, self._after = self._after, []
        for fn in after:  # local caches first (no stale entry re-cached from before the commit) ...
            result = fn()
            if inspect.isawaitable(result):
                await result
        messages, self._messages = self._messages, []
        for topic, message, table in messages:  # ... then everyone else
            await announce(self.request, topic, message, table)


def get_outbox(request: Request, conn: ConnDep) -> Outbox:
    return Outbox(request, conn)


OutboxDep = Annotated[Outbox, Depends(get_outbox)]
