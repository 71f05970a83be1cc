"""A cheap stand-in for video: RTP packets with a dummy payload."""

from __future__ import annotations

import asyncio
import contextlib
import struct


class DummyRtp:
    """Plain RTP (PT 96) with a dummy payload, 50 packets/s: the signalling tests' stand-in for video.
    ``transport``: "udp" / "tcp" (connect, RFC 4571 framing) to ``dest``, or "tcp-listen" on ``port``."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.packets_sent = 0
        self.port: int | None = None
        self.done = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._close: list = []

    @classmethod
    async def start(cls, dest, transport: str, ssrc: int) -> DummyRtp:
        s = cls(ssrc)
        loop = asyncio.get_running_loop()
        writer: list[asyncio.StreamWriter] = []
        connected = asyncio.Event()
        if transport == "udp":
            tr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=tuple(dest))
            s._close.append(tr.close)
            connected.set()

            def send(pkt: bytes) -> None:
                tr.sendto(pkt)
        else:
            if transport == "tcp":
                _, w = await asyncio.open_connection(*dest)
                writer.append(w)
                connected.set()
            else:
                async def accept(_r, w) -> None:
                    writer.append(w)
                    connected.set()

                srv = await asyncio.start_server(accept, dest, 0)
                s.port = srv.sockets[0].getsockname()[1]
                s._close.append(srv.close)
            s._close.append(lambda: writer and writer[0].close())

            def send(pkt: bytes) -> None:
                writer[0].write(struct.pack("!H", len(pkt)) + pkt)

        async def run() -> None:
            await connected.wait()
            seq = 0
            try:
                while True:
                    header = struct.pack("!BBHII", 0x80, 0x80 | 96, seq & 0xFFFF, seq * 3600 & 0xFFFFFFFF, ssrc)
                    send(header + b"\x00\x00\x01\xba" + b"\x00" * 180)
                    s.packets_sent += 1
                    seq += 1
                    if writer:
                        await writer[0].drain()
                    await asyncio.sleep(0.02)
            except (ConnectionError, OSError):
                pass
            finally:
                s.done.set()

        s._task = asyncio.create_task(run())
        return s

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for c in reversed(self._close):
            with contextlib.suppress(Exception):
                c()
        self._close.clear()
        self.done.set()
