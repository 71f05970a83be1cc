"""The tile cache: an in-process LRU (L1) in front of an optional Redis store (L2) shared by API processes.

An entry's key is (layer, data version, z, x, y, scope key); a write to a table bumps the version of the
layers it feeds (``bump``) and every older entry becomes unreachable (no scan, no delete).

- Without Redis the versions are this process's counters (one process: nothing to share).
- With Redis the versions live in one hash (``<prefix>tiles:v``) so that every process builds the same keys
  and a tile rendered by one is served by all (``<prefix>tile:...``, expiring after ``ttl_s``). A bump sets
  ``max(version + 1, Redis time in ms)`` (a Lua script: atomic; after a Redis restart a version never goes
  back to one whose entries another process may still hold). Every process bumps on the bus's change
  message itself (several increments per change: harmless), so no process waits for the writer's increment;
  a process re-reads the hash every ``refresh_s`` too, which bounds the staleness by ``refresh_s`` when a
  pub/sub message is lost. While a bump is on its way to Redis this process keeps away from L2 for that layer
  and keys its L1 entries by a local epoch, so the writer reads its own write at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Which layers a write to a table invalidates.
INVALIDATES: dict[str, tuple[str, ...]] = {
    "cameras": ("cameras", "camera_views"), "key_areas": ("key_areas",), "divisions": ("divisions",),
    "roads": ("roads",), "buildings": ("buildings",), "coverage": ("key_areas",)}
ENTRY_OVERHEAD = 200  # bytes per L1 entry besides the body (key, tuple, Tile)

_BUMP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i, f in ipairs(ARGV) do
  local v = tonumber(redis.call('HGET', KEYS[1], f) or '0')
  if v < now then v = now else v = v + 1 end
  redis.call('HSET', KEYS[1], f, v)
  out[i] = v
end
return out
"""


@dataclass(frozen=True, slots=True)
class Tile:
    gzipped: bytes  # empty for an empty tile
    etag: str
    made_at: float


def make_tile(raw: bytes) -> Tile:
    body = gzip.compress(raw, compresslevel=6, mtime=0) if raw else b""
    return Tile(body, f'"{hashlib.blake2b(raw, digest_size=12).hexdigest()}"', time.monotonic())


class TileCache:
    """L1 bounded by total bytes (LRU); L2 in Redis when ``redis_url`` is given and ``running()``."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, ttl_s: float = 300.0, redis_url: str | None = None,
                 prefix: str = "sharpeyes:", refresh_s: float = 1.0) -> None:
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s  # safety net for writes that bypass the services (bulk SQL loads)
        self.redis_url = redis_url
        self.prefix = prefix
        self.refresh_s = refresh_s
        self._entries: OrderedDict[tuple, Tile] = OrderedDict()
        self._bytes = 0
        self.versions: defaultdict[str, int] = defaultdict(int)
        self._epoch: defaultdict[str, int] = defaultdict(int)  # local bumps (shared mode)
        self._pending: defaultdict[str, int] = defaultdict(int)  # bumps not yet in Redis
        self._redis: Any = None
        self._synced = False  # versions read from Redis at least once (until then: no L2)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._scope_ids: dict[tuple, str] = {}
        self.hits = self.misses = self.shared_hits = 0
        self.served_early = 0  # answered by app.api.tile_fastpath (before FastAPI)

    # --- keys and versions -------------------------------------------------------------------------
    def key(self, layer: Any, z: int, x: int, y: int, scope: Any) -> tuple:
        """``layer``: a ``tiles.Layer`` (name, scoped); ``scope``: the caller's ``Scope`` for VIEW_MAP."""
        name = layer.name
        return (name, self.versions[name], self._epoch[name], z, x, y, scope.key if layer.scoped else ())

    def bump(self, table: str) -> None:
        """The data of ``table`` changed (committed): entries of the layers it feeds are gone from now on.
        Callable from the event loop or another thread (a test's)."""
        layers = INVALIDATES.get(table, (table,))
        if self._redis is None:
            for layer in layers:
                self.versions[layer] += 1
            return
        for layer in layers:
            self._epoch[layer] += 1
            self._pending[layer] += 1
        try:
            asyncio.get_running_loop()
            self._spawn(layers)
        except RuntimeError:  # not on the loop's thread
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._spawn, layers)

    def _spawn(self, layers: tuple[str, ...]) -> None:
        task = asyncio.get_running_loop().create_task(self._push(layers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, layers: tuple[str, ...]) -> None:
        """The bump into Redis, retried until it lands (the layer stays off L2 meanwhile)."""
        delay = 0.1
        while True:
            try:
                new = await self._redis.eval(_BUMP, 1, self.prefix + "tiles:v", *layers)
                break
            except Exception as exc:
                log.warning("tile version bump failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        for layer, version in zip(layers, new, strict=True):
            self.versions[layer] = max(self.versions[layer], int(version))
            self._pending[layer] -= 1

    async def refresh(self) -> None:
        """Take the versions other processes set (a lost bus message costs at most ``refresh_s``)."""
        stored = await self._redis.hgetall(self.prefix + "tiles:v")
        for field, value in stored.items():
            layer = field.decode()
            self.versions[layer] = max(self.versions[layer], int(value))
        self._synced = True

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: L1 keeps serving what this process knows to be current
                self._synced = False
                log.warning("tile versions not refreshed (%s)", exc)
            await asyncio.sleep(self.refresh_s)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TileCache]:
        """Connect to Redis (if configured) and keep the versions fresh for the ``with`` block."""
        if not self.redis_url:
            yield self
            return
        import redis.asyncio as redis

        self._loop = asyncio.get_running_loop()
        self._redis = redis.from_url(self.redis_url)
        refresher = asyncio.create_task(self._refresh_loop(), name="tile-versions")
        try:
            yield self
        finally:
            refresher.cancel()
            for task in (refresher, *self._tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._redis.aclose()
            self._redis, self._synced = None, False

    # --- L1 ----------------------------------------------------------------------------------------
    def get(self, key: tuple) -> Tile | None:
        tile = self._entries.get(key)
        if tile is None or time.monotonic() - tile.made_at > self.ttl_s:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return tile

    def put(self, key: tuple, raw: bytes) -> Tile:
        return self._keep(key, make_tile(raw))

    def _keep(self, key: tuple, tile: Tile) -> Tile:
        old = self._entries.pop(key, None)
        if old:
            self._bytes -= len(old.gzipped) + ENTRY_OVERHEAD
        self._entries[key] = tile
        self._bytes += len(tile.gzipped) + ENTRY_OVERHEAD
        while self._bytes > self.max_bytes and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.gzipped) + ENTRY_OVERHEAD
        return tile

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    # --- L1 + L2 -----------------------------------------------------------------------------------
    def _shared_key(self, key: tuple) -> str | None:
        """The Redis key of an L1 key, or None when L2 must not be used for it now."""
        name, version, epoch = key[0], key[1], key[2]
        if self._redis is None or not self._synced or self._pending[name] or epoch != self._epoch[name]:
            return None
        scope_id = self._scope_ids.get(key[6])
        if scope_id is None:
            if len(self._scope_ids) > 10_000:
                self._scope_ids.clear()
            scope_id = hashlib.blake2b(repr(key[6]).encode(), digest_size=8).hexdigest()
            self._scope_ids[key[6]] = scope_id
        return f"{self.prefix}tile:{name}:{version}:{key[3]}/{key[4]}/{key[5]}:{scope_id}"

    async def lookup(self, key: tuple) -> Tile | None:
        tile = self.get(key)
        if tile is not None:
            return tile
        shared = self._shared_key(key)
        if shared is None:
            return None
        try:
            data = await self._redis.get(shared)
        except Exception as exc:  # Redis away: render instead
            log.debug("tile L2 get failed: %s", exc)
            return None
        if data is None:
            return None
        etag, _, body = data.partition(b"\n")
        self.shared_hits += 1
        return self._keep(key, Tile(body, etag.decode(), time.monotonic()))

    async def store(self, key: tuple, raw: bytes) -> Tile:
        tile = self.put(key, raw)
        shared = self._shared_key(key)
        if shared is not None:
            try:
                await self._redis.set(shared, tile.etag.encode() + b"\n" + tile.gzipped, ex=int(self.ttl_s))
            except Exception as exc:
                log.debug("tile L2 set failed: %s", exc)
        return tile
