"""The durable side of the bus: events that must not be lost get an id and stay in a bounded log.

``DURABLE_TOPICS`` (camera catalog changes, incidents — GB/T 28181 alarms and SOS open incidents —, dispatch,
alarms the SIP server could not store) are appended to one log, in one order, each with an id
``<ms>-<seq>`` (Redis Stream ids; the in-process ring makes the same). Positions and KPI marks stay
fire-and-forget: a lost one is superseded by the next (coalesced).

Why one log for all of them: a dispatch refers to the incident it follows; a reader resuming from an id gets
both in the order they happened. Why bounded: a client away longer than the log reaches back is told to
reload its state (``check`` → ``"trimmed"``) instead of replaying hours of history.

- Redis (``RedisStream``): ``XADD <prefix>stream MAXLEN ~ STREAM_MAXLEN``; the id is then published on
  pub/sub in the same Lua script (atomic: the pub/sub order is the stream order), so live delivery keeps
  one subscriber connection and one order with positions; the stream serves replays and the catch-up of
  a process whose Redis connection dropped.
- In-process (``LocalStream``): a ring of the same length with the same ids and answers.

Readers fan out (every API process shows every event to its own clients) and no process acts on these
events as a unit of work today, so readers keep their own cursor (the id of the last event delivered) and
read with ``XRANGE`` from it; consumer groups (``XREADGROUP``/``XACK``/``XAUTOCLAIM``) would share work
between processes, and are for the day a consumer must act exactly once (e.g. sending notifications).
"""

from __future__ import annotations

import collections
import re
import time
from typing import Final

from app.domain.events import Topic

DURABLE_TOPICS: Final = frozenset({Topic.CAMERAS, Topic.INCIDENTS, Topic.DISPATCH, Topic.GB28181_ALARM})
# ~10,000 events: an hour of a busy city's incident and dispatch traffic (ETA progress included), some
# 5-20 MB in Redis. Redis trims whole nodes (``~``), so a few more are kept.
STREAM_MAXLEN: Final = 10_000
STREAM_KEY: Final = "stream"  # after the bus prefix: ``sharpeyes:stream``
PAGE: Final = 500  # entries per read of a replay or catch-up

_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
EventId = tuple[int, int]
ZERO: Final = "0-0"


def parse_id(value: object) -> EventId | None:
    """``"<ms>-<seq>"`` → (ms, seq), comparable; None if it is not one."""
    m = _ID.match(value) if isinstance(value, str) else None
    return (int(m[1]), int(m[2])) if m else None


def key(value: str) -> EventId:
    return parse_id(value) or (0, 0)


class LocalStream:
    """The in-process log: a ring of the last ``maxlen`` events (id, topic, message)."""

    def __init__(self, maxlen: int = STREAM_MAXLEN) -> None:
        self.ring: collections.deque[tuple[str, str, dict]] = collections.deque(maxlen=maxlen)
        self.cursor = ZERO  # the last id delivered to this process's subscribers (here: the last appended)
        self._last: EventId = (0, 0)
        self._evicted: EventId = (0, 0)  # the newest id that fell out of the ring

    def append(self, topic: str, message: dict) -> str:
        ms, (last_ms, seq) = time.time_ns() // 1_000_000, self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, seq + 1)  # ids never go back, like Redis's
        event_id = f"{self._last[0]}-{self._last[1]}"
        if len(self.ring) == self.ring.maxlen:
            self._evicted = key(self.ring[0][0])
        self.ring.append((event_id, topic, message))
        self.cursor = event_id
        return event_id

    async def check(self, since: str) -> str | None:
        """None if every event after ``since`` is still here; ``"trimmed"`` if some fell out,
        ``"unknown"`` if the id was never made here (another platform, or before a restart)."""
        k = key(since)
        if k > self._last:
            return "unknown"
        return "trimmed" if k < self._evicted else None

    async def read(self, after: str, upto: str, count: int = PAGE) -> list[tuple[str, str, dict]]:
        """The events with ``after < id <= upto``, oldest first, at most ``count``."""
        lo, hi = key(after), key(upto)
        out = []
        for entry in self.ring:
            k = key(entry[0])
            if lo < k <= hi:
                out.append(entry)
                if len(out) == count:
                    break
        return out


# KEYS[1] the stream; ARGV: maxlen, channel, topic, message... → the ids. One script: the stream order and the
# pub/sub order are the same, whichever processes publish at the same time.
APPEND_LUA = """
local ids = {}
for i = 4, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[3], 'm', ARGV[i])
  redis.call('PUBLISH', ARGV[2], id .. ' ' .. ARGV[i])
  ids[#ids + 1] = id
end
return ids
"""


class RedisStream:
    """The Redis Stream ``<prefix>stream``; ``cursor`` is kept by the bus that delivers its events."""

    def __init__(self, redis, prefix: str, maxlen: int = STREAM_MAXLEN) -> None:
        self.redis = redis
        self.key = prefix + STREAM_KEY
        self.maxlen = maxlen
        self.cursor: str | None = None  # None until the bus has read where the stream stands
        self._append = redis.register_script(APPEND_LUA)

    async def append(self, channel: str, topic: str, messages: list[bytes]) -> list[str]:
        ids = await self._append(keys=[self.key], args=[self.maxlen, channel, topic, *messages])
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def _info(self) -> dict | None:
        import redis.exceptions

        try:
            return await self.redis.xinfo_stream(self.key)
        except redis.exceptions.ResponseError:  # no such key: nothing was ever appended (or Redis was emptied)
            return None

    async def last_id(self) -> str:
        info = await self._info()
        return _s(info["last-generated-id"]) if info else ZERO

    async def check(self, since: str) -> str | None:
        info = await self._info()
        k = key(since)
        if info is None:
            return "unknown" if k > (0, 0) else None
        if k > key(_s(info["last-generated-id"])):
            return "unknown"
        if k < key(_s(info.get("max-deleted-entry-id") or ZERO)):  # XDEL
            return "trimmed"
        # MAXLEN trims do not record what they removed: anything before the first entry kept may be gone
        # (conservative: ``since`` itself trimmed with nothing after it also asks for a reload).
        removed = int(info.get("entries-added") or 0) > int(info["length"])
        first = info.get("first-entry")
        if removed and (first is None or k < key(_s(first[0]))):
            return None if first is None and k == key(_s(info["last-generated-id"])) else "trimmed"
        return None

    async def read(self, after: str, upto: str, count: int = PAGE) -> list[tuple[str, str, dict]]:
        import orjson

        rows = await self.redis.xrange(self.key, min="(" + after, max=upto, count=count)
        out = []
        for raw_id, fields in rows:
            try:
                out.append((_s(raw_id), _s(fields[b"t"]), orjson.loads(fields[b"m"])))
            except (KeyError, orjson.JSONDecodeError):
                continue  # not ours: skipped, as the pub/sub listener skips an undecodable message
        return out


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
