"""The event bus behind the websocket hub: in-process by default, Redis pub/sub when REDIS_URL is set.

Both have the same interface: ``await bus.publish(topic, message)``, ``await bus.publish_many(topic,
messages)`` (a batch: one Redis message, one call of a subscriber that has a ``many(topic, messages)``
attribute) and ``bus.subscribe(callback, topics=None)`` where ``callback(topic, message)`` is a plain function run
on the event loop (it must not block).
With Redis, local subscribers also receive their own process's messages through Redis, so every
process sees one order of events.

Messages of ``stream.DURABLE_TOPICS`` (incidents, dispatch, camera changes) are also kept in a bounded log
(``bus.stream``: a Redis Stream, or an in-process ring) under an id; a subscriber with a
``durable(topic, message, event_id)`` attribute is called with it (the websocket hub: clients resume from
the last id they saw). ``bus.stream.cursor`` is the id of the last one delivered here: everything up to it
has reached the subscribers, everything after it will, in id order. A process whose Redis connection
dropped reads what it missed from the stream when it is back (positions lost meanwhile are superseded).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Protocol

import orjson

from app.realtime.stream import DURABLE_TOPICS, PAGE, STREAM_MAXLEN, LocalStream, RedisStream, key

log = logging.getLogger(__name__)
Callback = Callable[[str, dict], None]
CHANNEL_PREFIX = "sharpeyes:"  # default; one per platform when several share a Redis
BATCH_SUFFIX = "[]"  # ``publish_many``: one Redis message carrying a list of messages of one topic
DURABLE_SUFFIX = "!"  # a durable topic's channel: ``<id> <json>`` (the stream id, then the message)


class Bus(Protocol):
    stream: LocalStream | RedisStream

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, topic: str, message: dict) -> None: ...
    async def publish_many(self, topic: str, messages: list[dict]) -> None: ...
    def subscribe(self, callback: Callback, topics: Collection[str] | None = None) -> Callable[[], None]: ...


class _Subscribers:
    def __init__(self) -> None:
        self._subs: list[tuple[Callback, frozenset[str] | None]] = []

    def subscribe(self, callback: Callback, topics: Collection[str] | None = None) -> Callable[[], None]:
        """``topics``: only messages of these (a batch of positions then costs such a subscriber nothing)."""
        sub = (callback, None if topics is None else frozenset(topics))
        self._subs.append(sub)
        return lambda: self._subs.remove(sub) if sub in self._subs else None

    def _for(self, topic: str) -> list[Callback]:
        return [cb for cb, topics in self._subs if topics is None or topic in topics]

    def _deliver(self, topic: str, message: dict, event_id: str | None = None) -> None:
        for cb in self._for(topic):
            try:
                durable = getattr(cb, "durable", None) if event_id is not None else None
                if durable is not None:
                    durable(topic, message, event_id)
                else:
                    cb(topic, message)
            except Exception:  # one failing subscriber never stops the others
                log.exception("bus subscriber failed on %s", topic)

    def _deliver_many(self, topic: str, messages: list[dict]) -> None:
        for cb in self._for(topic):
            many = getattr(cb, "many", None)  # a subscriber that takes a whole batch at once
            try:
                if many is not None:
                    many(topic, messages)
                else:
                    for message in messages:
                        cb(topic, message)
            except Exception:
                log.exception("bus subscriber failed on %s", topic)


class LocalBus(_Subscribers):
    connected = True  # in-process: nothing to lose

    def __init__(self, maxlen: int = STREAM_MAXLEN) -> None:
        super().__init__()
        self.stream = LocalStream(maxlen)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, topic: str, message: dict) -> None:
        if topic in DURABLE_TOPICS:
            self._deliver(topic, message, self.stream.append(topic, message))
        else:
            self._deliver(topic, message)

    async def publish_many(self, topic: str, messages: list[dict]) -> None:
        if topic in DURABLE_TOPICS:
            for message in messages:
                await self.publish(topic, message)
        elif messages:
            self._deliver_many(topic, messages)


class RedisBus(_Subscribers):
    """Redis pub/sub on channels ``sharpeyes:<topic>``; reconnects with backoff if Redis restarts."""

    def __init__(self, url: str, prefix: str = CHANNEL_PREFIX, maxlen: int = STREAM_MAXLEN) -> None:
        super().__init__()
        import redis.asyncio as redis

        self.prefix = prefix
        self._redis = redis.from_url(url)
        self.stream = RedisStream(self._redis, prefix, maxlen)
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        # Wait for the subscription so that a message published right after start is not missed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 5)

    @property
    def connected(self) -> bool:
        """Subscribed to Redis now (health): false while it reconnects."""
        return self._ready.is_set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    async def publish(self, topic: str, message: dict) -> None:
        if topic in DURABLE_TOPICS:
            await self.stream.append(self.prefix + topic + DURABLE_SUFFIX, topic, [orjson.dumps(message)])
        else:
            await self._redis.publish(self.prefix + topic, orjson.dumps(message))

    async def publish_many(self, topic: str, messages: list[dict]) -> None:
        """One Redis message for a whole batch (channel ``<prefix><topic>[]``, a JSON list); durable
        topics: one script call, a stream entry per message."""
        if not messages:
            return
        if topic in DURABLE_TOPICS:
            await self.stream.append(self.prefix + topic + DURABLE_SUFFIX, topic, [orjson.dumps(m) for m in messages])
        else:
            await self._redis.publish(self.prefix + topic + BATCH_SUFFIX, orjson.dumps(messages))

    def _deliver_durable(self, topic: str, message: dict, event_id: str) -> None:
        """Once per id, in id order: the catch-up and pub/sub may both bring an event."""
        if self.stream.cursor is not None and key(event_id) <= key(self.stream.cursor):
            return
        self.stream.cursor = event_id
        self._deliver(topic, message, event_id)

    async def _catch_up(self) -> None:
        """What was appended since the last event delivered here (at the first start: since the stream's
        last id, read before subscribing, so the events published in between are not missed)."""
        while True:
            page = await self.stream.read(self.stream.cursor, "+", PAGE)
            for event_id, topic, message in page:
                self._deliver_durable(topic, message, event_id)
            if len(page) < PAGE:
                return

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            try:
                if self.stream.cursor is None:  # where the stream stands before we listen
                    self.stream.cursor = await self.stream.last_id()
                async with self._redis.pubsub() as ps:
                    await ps.psubscribe(self.prefix + "*")
                    await self._subscribed(ps)
                    await self._catch_up()
                    self._ready.set()
                    delay = 0.2
                    async for item in ps.listen():
                        if item["type"] != "pmessage":
                            continue
                        topic = item["channel"].decode()[len(self.prefix):]
                        if topic.endswith(DURABLE_SUFFIX):
                            self._on_durable(topic[:-len(DURABLE_SUFFIX)], item["data"])
                            continue
                        try:
                            message = orjson.loads(item["data"])
                        except orjson.JSONDecodeError:
                            log.warning("undecodable bus message on %s", topic)
                            continue
                        if topic.endswith(BATCH_SUFFIX) and isinstance(message, list):
                            self._deliver_many(topic[:-len(BATCH_SUFFIX)], message)
                        else:
                            self._deliver(topic, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep retrying, the hub keeps serving what it has
                self._ready.clear()
                log.warning("redis bus disconnected (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    @staticmethod
    async def _subscribed(ps) -> None:
        """Wait for Redis to confirm the subscription: from then on nothing published is missed."""
        while True:
            item = await ps.get_message(timeout=5.0)
            if item is None:
                raise ConnectionError("no subscription confirmation from Redis")
            if item["type"] == "psubscribe":
                return

    def _on_durable(self, topic: str, data: bytes) -> None:
        event_id, _, raw = data.partition(b" ")
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("undecodable bus message on %s", topic)
            return
        self._deliver_durable(topic, message, event_id.decode())


def make_bus(redis_url: str | None, prefix: str = CHANNEL_PREFIX, maxlen: int = STREAM_MAXLEN) -> Bus:
    return RedisBus(redis_url, prefix, maxlen) if redis_url else LocalBus(maxlen)
