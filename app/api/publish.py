"""Publish to the realtime bus when one is running (the websocket hub fans it out)."""

from __future__ import annotations

import logging

from fastapi import Request

log = logging.getLogger(__name__)


async def publish(request: Request, topic: str, message: dict) -> None:
    bus = getattr(request.app.state, "bus", None)
    if bus is None:
        return
    try:
        await bus.publish(topic, message)
    except Exception:  # the change is committed; a bus outage must not turn it into an error
        log.exception("publish to %s failed", topic)
