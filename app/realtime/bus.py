"""The event bus behind the websocket hub: in-process by default, Redis pub/sub when REDIS_URL is set.

Both have the same interface: ``await bus.publish(topic, message)``, ``await bus.publish_many(topic,
messages)`` (a batch: one Redis message, one call of a subscriber that has a ``many(topic, messages)``
attribute) and ``bus.subscribe(callback, topics=None)`` where ``callback(topic, message)`` is a plain function run
on the event loop (it must not block).
With Redis, local subscribers also receive their own process's messages through Redis, so every
process sees one order of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from typing import Protocol

import orjson

log = logging.getLogger(__name__)
Callback = Callable[[str, dict], None]
CHANNEL_PREFIX = "sharpeyes:"  # default; one per platform when several share a Redis
BATCH_SUFFIX = "[]"  # ``publish_many``: one Redis message carrying a list of messages of one topic


class Bus(Protocol):
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

    def _deliver(self, topic: str, message: dict) -> None:
        for cb in self._for(topic):
            try:
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

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, topic: str, message: dict) -> None:
        self._deliver(topic, message)

    async def publish_many(self, topic: str, messages: list[dict]) -> None:
        if messages:
            self._deliver_many(topic, messages)


class RedisBus(_Subscribers):
    """Redis pub/sub on channels ``sharpeyes:<topic>``; reconnects with backoff if Redis restarts."""

    def __init__(self, url: str, prefix: str = CHANNEL_PREFIX) -> None:
        super().__init__()
        import redis.asyncio as redis

        self.prefix = prefix
        self._redis = redis.from_url(url)
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
        await self._redis.publish(self.prefix + topic, orjson.dumps(message))

    async def publish_many(self, topic: str, messages: list[dict]) -> None:
        """One Redis message for a whole batch (channel ``<prefix><topic>[]``, a JSON list)."""
        if messages:
            await self._redis.publish(self.prefix + topic + BATCH_SUFFIX, orjson.dumps(messages))

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            try:
                async with self._redis.pubsub() as ps:
                    await ps.psubscribe(self.prefix + "*")
                    self._ready.set()
                    delay = 0.2
                    async for item in ps.listen():
                        if item["type"] != "pmessage":
                            continue
                        topic = item["channel"].decode()[len(self.prefix):]
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


def make_bus(redis_url: str | None, prefix: str = CHANNEL_PREFIX) -> Bus:
    return RedisBus(redis_url, prefix) if redis_url else LocalBus()
