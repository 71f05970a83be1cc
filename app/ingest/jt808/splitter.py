"""Cut a TCP byte stream into JT/T 808 frame segments.

Every run of bytes between two 0x7E is a candidate frame: garbage between frames becomes one bad
candidate (rejected by ``decode_frame``), never a lost good frame. Bytes before the first 0x7E of a
stream cannot be told apart from noise and are dropped. A candidate that grows past ``max_frame``
without a closing 0x7E is discarded, so a peer cannot make us buffer without bound.
"""

from __future__ import annotations

# Largest legal frame: 2019 header (21) + sub-package (4) + body (1023) + checksum, all escaped (×2).
MAX_FRAME = 2 * (21 + 4 + 1023 + 1)


class FrameSplitter:
    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._open = False  # a 0x7E was seen: the buffer is a frame in progress
        self.dropped_bytes = 0
        self.overflows = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete candidate segments (without delimiters)."""
        out: list[bytes] = []
        buf = self._buf
        start = 0
        while True:
            idx = data.find(b"\x7e", start)
            if idx < 0:
                break
            if self._open:
                buf += data[start:idx]
                if buf and len(buf) <= self.max_frame:
                    out.append(bytes(buf))
                buf.clear()
            else:
                self.dropped_bytes += idx - start
                self._open = True
            start = idx + 1
        tail = data[start:]
        if self._open:
            buf += tail
            if len(buf) > self.max_frame:
                # No delimiter in sight: drop the runaway candidate and wait for the next 0x7E.
                self.overflows += 1
                self.dropped_bytes += len(buf)
                buf.clear()
                self._open = False
        else:
            self.dropped_bytes += len(tail)
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)
