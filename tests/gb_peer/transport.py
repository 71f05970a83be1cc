"""The device side's SIP transport: one UDP socket or TCP connection shared by several devices."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from app.ingest.gb28181 import sip

if TYPE_CHECKING:
    from tests.gb_peer.device import SimDevice


class PeerEndpoint:
    """One UDP socket or one TCP connection, shared by the devices attached to it."""

    def __init__(self, transport: str = "UDP") -> None:
        self.transport_name = transport
        self.devices: dict[str, SimDevice] = {}
        self.pending: dict[str, asyncio.Future] = {}
        self.local: tuple[str, int] = ("127.0.0.1", 0)
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self.server: tuple[str, int] = ("127.0.0.1", 0)
        self.stray = 0

    @classmethod
    async def open(cls, server: tuple[str, int], transport: str = "UDP") -> PeerEndpoint:
        ep = cls(transport)
        ep.server = server
        loop = asyncio.get_running_loop()
        if transport == "UDP":
            ep._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpPeer(ep), local_addr=("127.0.0.1", 0)
            )
            ep.local = ep._udp.get_extra_info("sockname")[:2]
        else:
            reader, ep._writer = await asyncio.open_connection(*server)
            ep.local = ep._writer.get_extra_info("sockname")[:2]
            ep._reader_task = asyncio.create_task(ep._read_tcp(reader))
        return ep

    async def _read_tcp(self, reader: asyncio.StreamReader) -> None:
        framer = sip.StreamFramer(1 << 20)
        while data := await reader.read(65536):
            for msg in framer.feed(data):
                self.on_message(msg)

    def send_raw(self, data: bytes) -> None:
        if self._udp is not None:
            if not self._udp.is_closing():
                self._udp.sendto(data, self.server)
        elif self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def on_message(self, msg: sip.SipMessage) -> None:
        if not msg.is_request:
            fut = self.pending.get(msg.branch)
            if fut is not None and not fut.done() and (msg.status or 0) >= 200:
                fut.set_result(msg)
            return
        user = sip.uri_user(msg.uri or "")
        dev = self.devices.get(user) or next(  # INVITE / CANCEL address a channel of the device
            (d for d in self.devices.values() if any(c.gb_id == user for c in d.channels)), None
        )
        if dev is None:
            self.stray += 1
            return
        dev.on_request(msg)

    async def transact(self, msg: sip.SipMessage, timeout_s: float = 5.0) -> sip.SipMessage | None:
        """Send a request and wait for its final response (UDP: retransmitted every 0.5→4 s)."""
        fut = asyncio.get_running_loop().create_future()
        self.pending[msg.branch] = fut
        data = msg.to_bytes()
        try:
            interval, waited = 0.5, 0.0
            self.send_raw(data)
            while waited < timeout_s:
                step = min(interval, timeout_s - waited) if self._udp else timeout_s
                done, _ = await asyncio.wait({fut}, timeout=step)
                if done:
                    return fut.result()
                waited += step
                if self._udp:
                    self.send_raw(data)
                    interval = min(interval * 2, 4.0)
            return None
        finally:
            self.pending.pop(msg.branch, None)

    def close(self) -> None:
        if self._udp:
            self._udp.close()
        if self._writer:
            self._writer.close()
        if self._reader_task:
            self._reader_task.cancel()


class _UdpPeer(asyncio.DatagramProtocol):
    def __init__(self, ep: PeerEndpoint) -> None:
        self.ep = ep

    def datagram_received(self, data, addr) -> None:
        try:
            msg = sip.parse_datagram(data)
        except sip.SipParseError:
            self.ep.stray += 1
            return
        self.ep.on_message(msg)
