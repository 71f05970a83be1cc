"""Asyncio TCP listener for JT/T 808 terminals: protocol callbacks, group commit across connections.

The listener is cut in three: ``connection`` (one ``asyncio.Protocol`` per terminal: bytes cut into
frames in the read callback, no coroutine per connection or message; replies written in message order),
``handlers`` (frames and messages → replies and validated fixes; a 0x0200 location takes a short
struct-only path) and ``group_commit`` (the fixes of all connections stored by one ``sink`` call per
group; a location's 0x8001 only after its commit). This module wires them and owns the socket.
"""

from __future__ import annotations

import asyncio
import logging

from app.domain.fix import MAX_AGE
from app.ingest.jt808.codec import phone_from_bcd
from app.ingest.jt808.connection import Connection, Session
from app.ingest.jt808.group_commit import LocationCommits, Sink
from app.ingest.jt808.handlers import Admit, MessageHandler, auth_code
from app.ingest.jt808.stats import Jt808Stats

log = logging.getLogger(__name__)
LOCATION_ACK = None  # outbox body placeholder: 0x8001 ok / fail, decided by the sink's outcome


class Jt808Server:
    def __init__(
        self,
        sink: Sink,
        *,
        secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = True,
        accept_bad_checksum: bool = False,
        idle_timeout_s: float = 600.0,
        group_delay_s: float = 0.02,
        group_max_fixes: int = 5000,
        max_in_flight: int = 4,
        max_waiting_fixes: int = 50_000,
        admit: Admit | None = None,
        max_age=MAX_AGE,
    ) -> None:
        self.sink = sink
        self.admit = admit  # None: every terminal (tests of the protocol alone)
        self.max_age = max_age
        self.secret = secret
        self.host, self.port = host, port
        self.require_auth = require_auth
        self.accept_bad_checksum = accept_bad_checksum
        self.idle_timeout_s = idle_timeout_s
        self.stats = Jt808Stats()
        self._server: asyncio.Server | None = None
        self.conns: set[Connection] = set()
        self.groups = LocationCommits(sink, self.stats, self.conns, delay_s=group_delay_s, max_fixes=group_max_fixes,
                                  max_in_flight=max_in_flight, max_waiting_fixes=max_waiting_fixes)
        self.handler = MessageHandler(self)

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        # SO_REUSEPORT: several ingest processes on one host bind the same port and the kernel spreads new
        # connections over them (Linux); a terminal stays with its process until it reconnects.
        self._server = await loop.create_server(lambda: Connection(self), self.host, self.port, backlog=2048,
                                                reuse_port=True)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("JT/T 808 listening on %s:%d", self.host, self.port)
        return self.port

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        commits = self.groups.drop_open()  # the open group is never acknowledged: terminals resend it
        for conn in list(self.conns):
            conn.transport.abort()
        lookups = list(self.handler.lookups)
        for task in [*commits, *lookups]:
            task.cancel()
        await asyncio.gather(*commits, *lookups, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None


__all__ = ["LOCATION_ACK", "Jt808Server", "Jt808Stats", "Session", "auth_code", "phone_from_bcd"]
