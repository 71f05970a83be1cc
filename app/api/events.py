"""Announcing writes from routes: invalidate this process's tiles now, and tell every process via the bus
(other processes drop their tiles when the message reaches them)."""

from __future__ import annotations

import logging

from fastapi import Request

log = logging.getLogger(__name__)


async def announce(request: Request, topic: str, message: dict | None, table: str | None = None) -> None:
    state = request.app.state
    if table:
        state.tiles.bump(table)
    if message is None:
        return
    try:
        await state.bus.publish(topic, {**message, "table": table} if table else message)
    except Exception:  # the write is committed; a bus outage must not turn it into an error
        log.exception("could not publish %s", topic)
