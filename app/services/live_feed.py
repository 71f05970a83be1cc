"""Messages on their way to the bus get the routing fields the hub filters on.

Topics are those of ``app.domain.events``, unchanged on the way. Positions come enriched already (division,
kind: once, in the ingest pipeline, ``app.ingest.target_meta``) and pass; the SIP server's
``camera.status`` / ``camera.deleted`` / ``camera.moved`` (named by GB/T 28181 id: the protocol package does
not know camera rows) become the ``cameras`` message the wall draws. Everything else passes (``incidents`` carry their
division already).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.events import Topic
from app.services import live


class LiveFeed:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def translate(self, topic: str, msg: dict) -> tuple[str, dict] | None:
        """The hub message for one message, or None when the hub has nothing to show for it."""
        if topic == Topic.CAMERA_DELETED and msg.get("id") is not None:  # the row is gone: its fields came along
            return Topic.CAMERAS, {"op": "delete", "id": msg["id"], "division": msg.get("division"),
                                   "secrecy": msg.get("secrecy") or 0, "table": "cameras",
                                   "camera": {"id": msg["id"], "gb_id": msg["gb_id"]}}
        if topic in (Topic.CAMERA_STATUS, Topic.CAMERA_DELETED, Topic.CAMERA_MOVED):
            async with self.engine.connect() as conn:
                cam_id = (await conn.execute(text("SELECT id FROM camera WHERE gb_id = :g"),
                                             {"g": msg["gb_id"]})).scalar()
                m = await live.camera_message(conn, cam_id) if cam_id else None
            return (Topic.CAMERAS, {**m, "table": "cameras"}) if m else None
        return topic, msg
