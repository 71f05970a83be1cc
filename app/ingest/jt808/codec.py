"""JT/T 808 framing: 0x7E delimiters, 0x7D escaping, XOR checksum, 2013 and 2019 headers, BCD fields.

A frame between two 0x7E, once unescaped, is::

    msg id (2) | attributes (2) | [version (1) if attr bit 14] | phone BCD (6, or 10 in 2019) | serial (2)
    | [package total (2), index (2) if attr bit 13] | body (attr & 0x3FF) | XOR of everything before (1)

Every malformed input raises ``Jt808Error`` and nothing else (the property tests hold us to that).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

FLAG = 0x7E
ESC = 0x7D
GMT8 = timezone(timedelta(hours=8))
MAX_BODY = 0x3FF
ATTR_SUBPACKAGE = 1 << 13
ATTR_VERSIONED = 1 << 14


class Jt808Error(ValueError):
    """A frame or message that cannot be decoded; the message says why."""


def unescape(data: bytes) -> bytes:
    if ESC not in data:
        return data
    out = bytearray()
    it = iter(data)
    for b in it:
        if b != ESC:
            out.append(b)
            continue
        nxt = next(it, None)
        if nxt == 0x01:
            out.append(ESC)
        elif nxt == 0x02:
            out.append(FLAG)
        else:
            raise Jt808Error(f"bad escape sequence 7D {nxt if nxt is None else f'{nxt:02X}'}")
    return bytes(out)


def escape(data: bytes) -> bytes:
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def checksum(data: bytes) -> int:
    # XOR of all bytes: fold as one big integer, then XOR its bytes (fast in C, no Python loop).
    if not data:
        return 0
    n = int.from_bytes(data, "big")
    acc = 0
    while n:
        acc ^= n & 0xFFFFFFFFFFFFFFFF
        n >>= 64
    acc ^= acc >> 32
    acc ^= acc >> 16
    acc ^= acc >> 8
    return acc & 0xFF


def bcd_digits(raw: bytes) -> str:
    return raw.hex()


def phone_from_bcd(raw: bytes) -> str:
    """Terminal phone / id exactly as the terminal sends it: every BCD digit, leading zeros kept (12 digits
    in the 2013 header, 20 in 2019). Units are registered with that number: stripping the zeros made a
    registered "013912345678" report as an unknown "13912345678"."""
    return raw.hex().upper()


def phone_to_bcd(phone: str, size: int = 6) -> bytes:
    if not phone.isalnum() or len(phone) > size * 2:
        raise Jt808Error(f"phone {phone!r} does not fit {size} BCD bytes")
    try:
        return bytes.fromhex(phone.rjust(size * 2, "0"))
    except ValueError as exc:
        raise Jt808Error(f"phone {phone!r} is not BCD") from exc


# BCD byte → its two decimal digits as a number, or -1 when a nibble is not a decimal digit.
_BCD = [(b >> 4) * 10 + (b & 0xF) if b >> 4 <= 9 and b & 0xF <= 9 else -1 for b in range(256)]
_GMT8_OFFSET = timedelta(hours=8)


_TIMES: dict[bytes, datetime] = {}  # recent BCD times: the terminals' fixes of one second share one


def time_from_bcd(raw: bytes) -> datetime:
    """``YYMMDDhhmmss`` BCD in GMT+8 (Beijing time) → aware UTC datetime."""
    if type(raw) is not bytes:
        raw = bytes(raw)
    hit = _TIMES.get(raw)
    if hit is not None:
        return hit
    when = _time_from_bcd(raw)
    if len(_TIMES) >= 4096:
        _TIMES.clear()
    _TIMES[raw] = when
    return when


def _time_from_bcd(raw: bytes) -> datetime:
    if len(raw) != 6:
        raise Jt808Error(f"time is not BCD: {raw.hex()}")
    bcd = _BCD
    y, mo, d, h, mi, s = bcd[raw[0]], bcd[raw[1]], bcd[raw[2]], bcd[raw[3]], bcd[raw[4]], bcd[raw[5]]
    if y < 0 or mo < 0 or d < 0 or h < 0 or mi < 0 or s < 0:
        raise Jt808Error(f"time is not BCD: {raw.hex()}")
    try:
        # Same instant as datetime(..., tzinfo=GMT8).astimezone(UTC), without the zone conversion.
        return datetime(2000 + y, mo, d, h, mi, s, tzinfo=UTC) - _GMT8_OFFSET
    except ValueError as exc:
        raise Jt808Error(f"invalid time {raw.hex()}: {exc}") from None


def time_to_bcd(when: datetime) -> bytes:
    return bytes.fromhex(when.astimezone(GMT8).strftime("%y%m%d%H%M%S"))


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    attributes: int
    phone: str
    phone_raw: bytes
    serial: int
    version: int | None = None  # set for the 2019 header (attribute bit 14)
    package_total: int | None = None
    package_index: int | None = None

    @property
    def body_length(self) -> int:
        return self.attributes & MAX_BODY

    @property
    def encrypted(self) -> bool:
        return bool(self.attributes & 0x1C00)


@dataclass(frozen=True, slots=True)
class Frame:
    header: Header
    body: bytes
    checksum_ok: bool


def decode_frame(segment: bytes) -> Frame:
    """Decode the bytes between two 0x7E (still escaped). A wrong checksum is reported, not raised:
    some terminals in the field compute it wrongly and the caller decides what to do."""
    data = unescape(segment)
    if len(data) < 13:
        raise Jt808Error(f"frame too short ({len(data)} bytes)")
    msg_id, attributes = struct.unpack_from(">HH", data, 0)
    pos = 4
    version = None
    phone_len = 6
    if attributes & ATTR_VERSIONED:
        version = data[pos]
        pos += 1
        phone_len = 10
    phone_raw = data[pos : pos + phone_len]
    pos += phone_len
    if len(data) < pos + 3:
        raise Jt808Error("frame too short for its header")
    (serial,) = struct.unpack_from(">H", data, pos)
    pos += 2
    total = index = None
    if attributes & ATTR_SUBPACKAGE:
        if len(data) < pos + 5:
            raise Jt808Error("frame too short for its sub-package header")
        total, index = struct.unpack_from(">HH", data, pos)
        pos += 4
        if total == 0 or not (1 <= index <= total):
            raise Jt808Error(f"bad sub-package index {index}/{total}")
    body_len = attributes & MAX_BODY
    if len(data) != pos + body_len + 1:
        raise Jt808Error(
            f"length mismatch: header says body {body_len} bytes, frame has {len(data) - pos - 1}"
        )
    header = Header(msg_id, attributes, phone_from_bcd(phone_raw), phone_raw, serial, version, total, index)
    return Frame(header, data[pos : pos + body_len], checksum(data[:-1]) == data[-1])


def encode_frame(
    msg_id: int, phone_raw: bytes, serial: int, body: bytes = b"", version: int | None = None
) -> bytes:
    """A complete escaped frame with delimiters. ``phone_raw`` is 6 BCD bytes (10 with ``version``)."""
    if len(body) > MAX_BODY:
        raise Jt808Error(f"body of {len(body)} bytes needs sub-packaging")
    attributes = len(body)
    head = struct.pack(">HH", msg_id, attributes | (ATTR_VERSIONED if version is not None else 0))
    if version is not None:
        head += bytes([version])
    if len(phone_raw) != (10 if version is not None else 6):
        raise Jt808Error("phone must be 6 BCD bytes (10 in the 2019 header)")
    data = head + phone_raw + struct.pack(">H", serial & 0xFFFF) + body
    return b"\x7e" + escape(data + bytes([checksum(data)])) + b"\x7e"
