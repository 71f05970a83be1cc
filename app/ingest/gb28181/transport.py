"""UDP and TCP transports: bytes in, parsed SIP messages out to one handler.

Whatever cannot be parsed is counted, logged (rate-limited) and dropped; a datagram or TCP message
over the size limit is answered 513 when its headers are readable. Nothing here raises into asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from app.ingest.gb28181 import sip

log = logging.getLogger("app.ingest.gb28181")

Handler = Callable[[sip.SipMessage, tuple[str, int], str, Callable[[bytes], None]], None]


class RateLimitedLog:
    """First few of each kind at WARNING, then every 1000th, so a flood cannot flood the log."""

    def __init__(self, stats: Counter) -> None:
        self.stats = stats

    def __call__(self, kind: str, text: str, *args) -> None:
        self.stats[kind] += 1
        n = self.stats[kind]
        if n <= 5 or n % 1000 == 0:
            log.warning(f"%s (#%d): {text}", kind, n, *args)


def reject_unparsable(err: sip.SipParseError, addr, send, oversize: bool, warn: RateLimitedLog) -> None:
    warn("oversize" if oversize else "garbage", "%s from %s", err, addr)
    req = err.msg
    if req is not None and req.is_request and req.method != "ACK":
        send(sip.make_response(req, 513 if oversize else 400, received=addr).to_bytes())


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler, max_bytes: int, warn: RateLimitedLog) -> None:
        self.handler, self.max_bytes, self.warn = handler, max_bytes, warn
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        addr = (addr[0], addr[1])
        send = self._sender(addr)
        oversize = len(data) > self.max_bytes
        try:
            msg = sip.parse_datagram(data)
        except sip.SipParseError as e:
            reject_unparsable(e, addr, send, oversize, self.warn)
            return
        if oversize:
            reject_unparsable(sip.SipParseError(f"{len(data)} bytes", msg), addr, send, True, self.warn)
            return
        try:
            self.handler(msg, addr, "UDP", send)
        except Exception:  # a handler bug must not take the socket down
            log.exception("handler failed for %s from %s", msg.method or msg.status, addr)
            self.warn.stats["handler_error"] += 1

    def _sender(self, addr):
        def send(data: bytes) -> None:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(data, addr)

        return send

    def error_received(self, exc) -> None:  # ICMP port unreachable etc.
        self.warn.stats["udp_error"] += 1


async def serve_tcp_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: Handler,
    max_bytes: int,
    warn: RateLimitedLog,
    idle_timeout_s: float,
) -> None:
    peer = writer.get_extra_info("peername") or ("?", 0)
    addr = (peer[0], peer[1])
    framer = sip.StreamFramer(max_bytes)

    def send(data: bytes) -> None:
        if not writer.is_closing():
            writer.write(data)

    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), idle_timeout_s)
            if not data:
                break
            try:
                msgs = framer.feed(data)
            except sip.SipParseError as e:
                # The stream has lost its framing: answer if possible, then close (RFC 3261 §18.3).
                reject_unparsable(e, addr, send, "exceeds" in str(e) or "too large" in str(e), warn)
                break
            for msg in msgs:
                try:
                    handler(msg, addr, "TCP", send)
                except Exception:
                    log.exception("handler failed for %s from %s", msg.method or msg.status, addr)
                    warn.stats["handler_error"] += 1
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
