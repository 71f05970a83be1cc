"""SIP messages (RFC 3261) as bytes ⇄ objects: pure, no I/O.

Tolerates what real cameras send: compact header names, folded header lines, bare LF line ends,
a missing ``Content-Length`` on UDP. ``Content-Length`` is always counted on the body's bytes
(GB2312 bodies are longer in bytes than in characters).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache

COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "e": "Content-Encoding",
    "k": "Supported",
    "s": "Subject",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "x": "Session-Expires",
}
# Canonical spelling of the headers we read or write, so lookups are case-insensitive.
_CANON = {
    n.lower(): n
    for n in (
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Length",
        "Content-Type",
        "Max-Forwards",
        "Expires",
        "Authorization",
        "WWW-Authenticate",
        "User-Agent",
        "Date",
        "Event",
        "Subscription-State",
        "Allow",
        "Subject",
        "Supported",
        "Allow-Events",
        "Content-Encoding",
        "Server",
        "Route",
        "Record-Route",
    )
}
_REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    423: "Interval Too Brief",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    513: "Message Too Large",
    603: "Decline",
}
_STATUS_RE = re.compile(r"^SIP/2\.0 (\d{3})(?: (.*))?$")
_REQUEST_RE = re.compile(r"^([A-Z]+) (\S+) SIP/2\.0$")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class SipParseError(ValueError):
    """The bytes are not a SIP message we can act on. ``msg`` is set when the headers were readable,
    so the sender can still be answered (400 / 513)."""

    def __init__(self, text: str, msg: SipMessage | None = None) -> None:
        super().__init__(text)
        self.msg = msg


@lru_cache(maxsize=4096)  # bounded: header names come from the network
def canonical_name(name: str) -> str:
    name = name.strip()
    low = name.lower()
    if low in COMPACT:
        return COMPACT[low]
    return _CANON.get(low, "-".join(p.capitalize() for p in name.split("-")))


@dataclass
class SipMessage:
    method: str | None = None  # requests
    uri: str | None = None
    status: int | None = None  # responses
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str, default: str | None = None) -> str | None:
        name = canonical_name(name)
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        name = canonical_name(name)
        return [v for k, v in self.headers if k == name]

    def set(self, name: str, value: str) -> None:
        name = canonical_name(name)
        for i, (k, _) in enumerate(self.headers):
            if k == name:
                self.headers[i] = (k, value)
                return
        self.headers.append((name, value))

    def remove(self, name: str) -> None:
        name = canonical_name(name)
        self.headers = [(k, v) for k, v in self.headers if k != name]

    @property
    def call_id(self) -> str:
        return self.get("Call-ID", "") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        raw = (self.get("CSeq") or "").split()
        try:
            return int(raw[0]), raw[1].upper()
        except (IndexError, ValueError):
            return 0, ""

    @property
    def branch(self) -> str:
        return header_params(self.get("Via") or "").get("branch", "")

    def to_bytes(self) -> bytes:
        if self.is_request:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason or _REASONS.get(self.status or 0, 'Unknown')}"
        lines = [start]
        lines += [f"{k}: {v}" for k, v in self.headers if k != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def _parse_head(head: bytes) -> SipMessage:
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # keepalive CRLFs before a message
    if not lines:
        raise SipParseError("empty message")
    start = lines[0].rstrip()
    msg = SipMessage()
    if m := _REQUEST_RE.match(start):
        msg.method, msg.uri = m.group(1), m.group(2)
    elif m := _STATUS_RE.match(start):
        msg.status, msg.reason = int(m.group(1)), m.group(2) or ""
    else:
        raise SipParseError(f"not a SIP start line: {start[:60]!r}")
    headers: list[list[str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):  # folded continuation of the previous header
            if not headers:
                raise SipParseError("continuation line before any header")
            headers[-1][1] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or " " in name:
            if not line.strip():
                continue
            raise SipParseError(f"bad header line: {line[:60]!r}")
        headers.append([canonical_name(name), value.strip()])
    msg.headers = [(k, v) for k, v in headers]
    present = {k for k, _ in msg.headers}
    for required in ("Via", "From", "To", "Call-ID", "CSeq"):
        if required not in present:
            raise SipParseError(f"missing {required}")
    return msg


def content_length(msg: SipMessage) -> int | None:
    raw = msg.get("Content-Length")
    if raw is None:
        return None
    try:
        n = int(raw.strip())
    except ValueError as e:
        raise SipParseError(f"bad Content-Length {raw!r}") from e
    if n < 0:
        raise SipParseError("negative Content-Length")
    return n


def parse_datagram(data: bytes) -> SipMessage:
    """One message from one UDP datagram; the body is cut to Content-Length bytes."""
    m = _HEADER_END.search(data)
    head, rest = (data[: m.start()], data[m.end() :]) if m else (data, b"")
    msg = _parse_head(head)
    n = content_length(msg)
    if n is None:
        msg.body = rest
    elif n > len(rest):
        raise SipParseError(f"Content-Length {n} exceeds the {len(rest)} body bytes received", msg)
    else:
        msg.body = rest[:n]
    return msg


class StreamFramer:
    """Splits a TCP byte stream into messages (Content-Length framing, RFC 3261 §18.3)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[SipMessage]:
        """Messages completed by ``data``. Raises SipParseError (then the connection should close)."""
        self._buf += data
        out = []
        while True:
            # CRLF keepalives between messages (RFC 5626) are skipped.
            while self._buf[:2] == b"\r\n" or self._buf[:1] == b"\n":
                del self._buf[: 2 if self._buf[:2] == b"\r\n" else 1]
            m = _HEADER_END.search(self._buf)
            if m is None:
                if len(self._buf) > self.max_bytes:
                    raise SipParseError("header section too large")
                return out
            msg = _parse_head(bytes(self._buf[: m.start()]))
            n = content_length(msg) or 0
            if m.end() + n > self.max_bytes:
                raise SipParseError(f"message of {m.end() + n} bytes exceeds {self.max_bytes}", msg)
            if len(self._buf) < m.end() + n:
                return out
            msg.body = bytes(self._buf[m.end() : m.end() + n])
            del self._buf[: m.end() + n]
            out.append(msg)


def header_params(value: str) -> dict[str, str]:
    """``;key=value`` parameters of a header value (lower-case keys); a bare key maps to ''."""
    out = {}
    # Parameters after the URI's closing '>' (or after the first ';' when there is no '<…>').
    tail = value[value.index(">") + 1 :] if ">" in value else value
    for part in tail.split(";")[1:]:
        k, _, v = part.partition("=")
        out[k.strip().lower()] = v.strip().strip('"')
    return out


_URI_USER = re.compile(r"sips?:([^@;>\s]+)@([^;>\s]+)")


def uri_user(value: str) -> str:
    """User part of the (first) SIP URI in a header value or URI: the GB device id."""
    m = _URI_USER.search(value or "")
    return m.group(1) if m else ""


def uri_host(value: str) -> str:
    m = _URI_USER.search(value or "")
    return m.group(2) if m else ""


def new_tag() -> str:
    return secrets.token_hex(5)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def make_response(
    req: SipMessage,
    status: int,
    reason: str = "",
    *,
    to_tag: str | None = None,
    received: tuple[str, int] | None = None,
) -> SipMessage:
    """Response to ``req``: Via(s), From, To (with a tag), Call-ID and CSeq copied."""
    resp = SipMessage(status=status, reason=reason or _REASONS.get(status, ""))
    vias = req.get_all("Via")
    if vias and received is not None:
        vias[0] = _stamp_via(vias[0], received)
    resp.headers += [("Via", v) for v in vias]
    resp.headers.append(("From", req.get("From") or ""))
    to = req.get("To") or ""
    if "tag=" not in to and status > 100:
        to = f"{to};tag={to_tag or new_tag()}"
    resp.headers += [("To", to), ("Call-ID", req.call_id), ("CSeq", req.get("CSeq") or "")]
    return resp


def _stamp_via(via: str, addr: tuple[str, int]) -> str:
    """``received``/``rport`` on the top Via (RFC 3581) so NATed devices get their answers."""
    params = header_params(via)
    via = re.sub(r";rport(?=;|$)", f";rport={addr[1]}", via) if "rport" in params else via
    if "received" not in params:
        via += f";received={addr[0]}"
    return via
