"""SDP (RFC 4566) as GB/T 28181 uses it for video INVITEs: the platform's offer, the device's answer.
Pure, no I/O.

The offer follows WVP's rendering (GB28181.md §2.8): ``s=Play`` (live), ``s=Playback`` or
``s=Download`` with ``u=<channel>:0`` and ``t=<start> <end>`` in epoch seconds, payloads 96 PS,
98 H264, 97 MPEG4, 99 H265, and the GB ``y=`` line (SSRC, 10 digits). TCP offers say who connects:
``a=setup:passive`` = the platform listens and the device connects; ``active`` = the reverse.

Answers from real devices vary: LF or CRLF, session- or media-level ``c=``, extra attributes, no
``y=`` (then the offered SSRC applies), a ``f=`` line with the encoder's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MODES = ("udp", "tcp-passive", "tcp-active")
KINDS = {"play": "Play", "playback": "Playback", "download": "Download"}
RTPMAP = {96: "PS/90000", 98: "H264/90000", 97: "MPEG4/90000", 99: "H265/90000"}


class SdpError(ValueError):
    """The answer is not an SDP we can stream from (no media line, no address, no port)."""


def make_ssrc(kind: str, domain: str, seq: int) -> str:
    """GB SSRC: '0' live / '1' history (playback, download) + domain digits 4-8 + a 4-digit sequence
    (WVP ``SSRCFactory``: ``sipDomain.substring(3, 8)``)."""
    return ("0" if kind == "play" else "1") + domain[3:8] + f"{seq % 10000:04d}"


def offer(
    *,
    channel_id: str,
    media_host: str,
    media_port: int,
    mode: str,
    ssrc: str,
    kind: str = "play",
    start: datetime | None = None,
    end: datetime | None = None,
    speed: int | None = None,
) -> bytes:
    """The SDP body of the platform's INVITE: where the device is to send the stream."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {tuple(KINDS)}, not {kind!r}")
    if kind != "play" and (start is None or end is None):
        raise ValueError(f"{kind} needs start and end")
    lines = [
        "v=0",
        f"o={channel_id} 0 0 IN IP4 {media_host}",
        f"s={KINDS[kind]}",
    ]
    if kind != "play":
        lines.append(f"u={channel_id}:0")
    lines.append(f"c=IN IP4 {media_host}")
    if kind == "play":
        lines.append("t=0 0")
    else:
        lines.append(f"t={int(start.timestamp())} {int(end.timestamp())}")
    proto = "RTP/AVP" if mode == "udp" else "TCP/RTP/AVP"
    lines.append(f"m=video {media_port} {proto} {' '.join(str(p) for p in sorted(RTPMAP))}")
    lines.append("a=recvonly")
    lines += [f"a=rtpmap:{pt} {enc}" for pt, enc in RTPMAP.items()]
    if mode != "udp":
        lines += [f"a=setup:{mode.removeprefix('tcp-')}", "a=connection:new"]
    if kind == "download" and speed:
        lines.append(f"a=downloadspeed:{int(speed)}")
    lines.append(f"y={ssrc}")
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class Session:
    """A parsed SDP (the device's answer, or an offer read back by the simulator)."""

    name: str = ""  # s=: Play | Playback | Download
    host: str = ""  # c= (media level wins over session level)
    port: int = 0
    transport: str = "udp"  # udp | tcp
    setup: str | None = None  # a=setup: active | passive | actpass (TCP only)
    payloads: list[int] = field(default_factory=list)
    rtpmap: dict[int, str] = field(default_factory=dict)  # payload type → 'PS/90000'
    direction: str | None = None  # sendonly | recvonly | sendrecv
    ssrc: str | None = None  # y=
    media_format: str | None = None  # f= (GB: v/codec/resolution/fps/rate type/bitrate a/…)
    uri: str | None = None  # u=
    start: int | None = None  # t= epoch seconds (0 for live)
    end: int | None = None
    download_speed: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # every other a=name:value

    @property
    def encoding(self) -> str | None:
        """Name of the first offered payload ('PS', 'H264'…), from a=rtpmap or the static table."""
        if not self.payloads:
            return None
        pt = self.payloads[0]
        return (self.rtpmap.get(pt) or RTPMAP.get(pt, "")).split("/")[0] or None


def parse(body: bytes | str) -> Session:
    """The session lines plus the first video media section (else the first media section)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip()
        if len(line) >= 2 and line[1] == "=":
            lines.append((line[0], line[2:].strip()))
    sections: list[list[tuple[str, str]]] = [[]]
    for key, value in lines:
        if key == "m":
            sections.append([])
        sections[-1].append((key, value))
    media = sections[1:]
    if not media:
        raise SdpError("no m= line")
    chosen = next((m for m in media if m[0][1].startswith("video")), media[0])
    s = Session()
    for key, value in sections[0]:
        _apply(s, key, value)
    session_host, s.host = s.host, ""
    for key, value in chosen:
        _apply(s, key, value)
    s.host = s.host or session_host
    # y= and f= are GB's own lines, written last: after an audio section they still mean the stream.
    for key, value in lines:
        if key == "y" and s.ssrc is None:
            s.ssrc = value or None
        elif key == "f" and s.media_format is None:
            s.media_format = value or None
    if not s.host:
        raise SdpError("no c= address")
    return s


def _apply(s: Session, key: str, value: str) -> None:
    if key == "m":
        parts = value.split()
        if len(parts) < 3 or not parts[1].split("/")[0].isdigit():
            raise SdpError(f"bad media line {value!r}")
        s.port = int(parts[1].split("/")[0])
        s.transport = "tcp" if "TCP" in parts[2].upper() else "udp"
        s.payloads = [int(p) for p in parts[3:] if p.isdigit()]
    elif key == "c":
        s.host = value.split()[-1].split("/")[0] if value.split() else ""
    elif key == "s":
        s.name = value
    elif key == "u":
        s.uri = value
    elif key == "t":
        parts = value.split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            s.start, s.end = int(parts[0]), int(parts[1])
    elif key == "y":
        s.ssrc = value or None
    elif key == "f":
        s.media_format = value or None
    elif key == "a":
        name, _, val = value.partition(":")
        name, val = name.strip().lower(), val.strip()
        if name == "rtpmap":
            pt, _, enc = val.partition(" ")
            if pt.strip().isdigit():
                s.rtpmap[int(pt)] = enc.strip()
        elif name == "setup":
            s.setup = val.lower()
        elif name in ("sendonly", "recvonly", "sendrecv", "inactive"):
            s.direction = name
        elif name == "downloadspeed" and val.isdigit():
            s.download_speed = int(val)
        else:
            s.attributes[name] = val
