"""Tracking tables beyond the foundation model: events detected on moving targets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, now_col


class TargetEvent(Base):
    """One detected event (area enter/exit, overspeed, stale, SOS…), linked to the fix that caused it.

    ``position_time`` is the ``fix_time`` of that fix (the key of ``position`` with ``target_id``), NULL
    for events caused by silence (stale). No foreign key into ``position``: partitions are dropped whole
    by retention, events of key areas may be kept longer.
    """

    __tablename__ = "target_event"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("target.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    type: Mapped[str] = mapped_column(String(24))
    detail: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    position_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_col()
    __table_args__ = (
        Index("ix_target_event_target_at", "target_id", "at"),
        Index("ix_target_event_at", "at"),
    )
