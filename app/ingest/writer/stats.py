"""Counters of the batch writer (flushes and the last-position updater)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WriterStats:
    flushes: int = 0
    rows_staged: int = 0
    rows_inserted: int = 0
    retries: int = 0
    failed_rows: int = 0
    partitions_created: int = 0
    replays: int = 0  # flushes that met already stored rows and went the ON CONFLICT way
    # Seconds spent, summed over flushes: where a flush's time goes (whole flush, COPY, target UPDATE).
    flush_s: float = 0.0
    copy_s: float = 0.0
    update_s: float = 0.0  # spent by the last-position updater (outside the flushes)
    last_rounds: int = 0  # rounds of the last-position updater
    last_rows: int = 0  # targets sent by them (coalesced: one per target per round)
