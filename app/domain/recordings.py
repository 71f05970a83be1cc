"""A channel's recordings as the device lists them (RecordInfo): merged into segments, their gaps, and the
retention they prove. Pure: the caller asked the device and passes the clock.

Retention is what the device holds, not what it was configured for: the days from the oldest recording
still on it to now. A device that answered with nothing holds 0 days; one that did not answer is unknown
(no fact, so no figure), never counted as failing or passing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# Gaps shorter than this are file boundaries (a device cuts a file every N minutes), not missing video.
JOIN_S = 5.0


@dataclass(frozen=True, slots=True)
class Segment:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def merge(segments: Iterable[Segment], join_s: float = JOIN_S) -> list[Segment]:
    """Sorted, overlapping and touching segments (within ``join_s``) made one; empty ones dropped."""
    out: list[Segment] = []
    for s in sorted((s for s in segments if s.end > s.start), key=lambda s: s.start):
        if out and (s.start - out[-1].end).total_seconds() <= join_s:
            if s.end > out[-1].end:
                out[-1] = Segment(out[-1].start, s.end)
        else:
            out.append(s)
    return out


def clip(segments: Iterable[Segment], start: datetime, end: datetime) -> list[Segment]:
    """The merged segments cut to [start, end)."""
    return [Segment(max(s.start, start), min(s.end, end)) for s in merge(segments) if s.end > start and s.start < end]


def gaps(segments: Iterable[Segment], start: datetime, end: datetime, min_s: float = 60.0) -> list[Segment]:
    """The stretches of [start, end) with no recording, at least ``min_s`` long."""
    out, at = [], start
    for s in clip(segments, start, end):
        if (s.start - at).total_seconds() >= min_s:
            out.append(Segment(at, s.start))
        at = max(at, s.end)
    if (end - at).total_seconds() >= min_s:
        out.append(Segment(at, end))
    return out


@dataclass(frozen=True, slots=True)
class Retention:
    """What one RecordInfo sweep found for one channel."""

    oldest: datetime | None  # start of the oldest recording on the device; None: it holds none
    newest: datetime | None  # end of the newest
    days: float  # now − oldest, in days (0 when it holds nothing)
    recorded_s: float  # seconds of video within the required window
    gap_s: float  # seconds without video within the required window (from the oldest recording on)

    def complies(self, required_days: int) -> bool:
        return self.days >= required_days


def retention(segments: Iterable[Segment], now: datetime, required_days: int) -> Retention:
    merged = merge(segments)
    if not merged:
        return Retention(None, None, 0.0, 0.0, 0.0)
    oldest, newest = merged[0].start, merged[-1].end
    window_start = max(oldest, now - timedelta(days=required_days))
    inside = clip(merged, window_start, now)
    recorded = sum(s.seconds for s in inside)
    return Retention(oldest, newest, max(0.0, (now - oldest).total_seconds() / 86400.0), recorded,
                     max(0.0, (now - window_start).total_seconds() - recorded))
