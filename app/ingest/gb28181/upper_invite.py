"""An upper platform's INVITE for one of our channels (GB/T 28181 cascade, this platform the lower one): pure.

The upper offers where it wants the stream (``c=``/``m=``: address, port, ``RTP/AVP`` or ``TCP/RTP/AVP``
with ``a=setup``), which SSRC it expects (``y=``), and what: ``s=Play`` (live) or ``s=Playback`` with the
range in ``t=`` (epoch seconds). We answer with our side (``a=sendonly``, payload 96 PS, the same ``y=``)
and then send RTP/PS. Over TCP ``a=setup:passive`` means the upper listens and we connect (our
``tcp-active``); ``active`` means it connects to a port we listen on (our ``tcp-passive``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.ingest.gb28181 import sdp, sip


class OfferError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


@dataclass(frozen=True, slots=True)
class Offer:
    channel_id: str
    kind: str  # play | playback
    host: str
    port: int
    mode: str  # ours: udp | tcp-active (we connect) | tcp-passive (we listen)
    ssrc: str  # as written in y= (decimal digits)
    start: datetime | None = None
    end: datetime | None = None

    @property
    def ssrc_value(self) -> int:
        return int(self.ssrc) & 0xFFFFFFFF if self.ssrc.isdigit() else 0


def read_offer(msg: sip.SipMessage) -> Offer:
    """The upper's INVITE as an offer; ``OfferError`` (488, 400) when we cannot serve it as asked."""
    channel = sip.uri_user(msg.uri or "") or (msg.get("Subject") or "").split(":")[0]
    if not (channel.isdigit() and len(channel) == 20):
        raise OfferError(404, "Not Found")
    try:
        s = sdp.parse(msg.body)
    except sdp.SdpError as e:
        raise OfferError(400, f"Bad SDP ({e})") from e
    kind = s.name.strip().lower()
    if kind not in ("play", "playback"):
        raise OfferError(488, f"Not Acceptable Here (s={s.name or '-'})")
    if s.port <= 0 or not s.host or s.host == "0.0.0.0":
        raise OfferError(488, "Not Acceptable Here (no media address)")
    if s.payloads and 96 not in s.payloads and (s.encoding or "").upper() != "PS":
        raise OfferError(488, "Not Acceptable Here (PS payload 96 only)")
    start = end = None
    if kind == "playback":
        if not s.start or not s.end or s.end <= s.start:
            raise OfferError(488, "Not Acceptable Here (playback needs t=start end)")
        start, end = datetime.fromtimestamp(s.start, UTC), datetime.fromtimestamp(s.end, UTC)
    mode = "udp" if s.transport == "udp" else ("tcp-passive" if s.setup == "active" else "tcp-active")
    return Offer(channel, kind, s.host, s.port, mode, s.ssrc or "0", start, end)


def answer(offer: Offer, media_host: str, media_port: int) -> bytes:
    """Our SDP answer: we send PS (payload 96) from/at ``media_host:media_port`` with the offered SSRC."""
    lines = ["v=0", f"o={offer.channel_id} 0 0 IN IP4 {media_host}",
             f"s={'Play' if offer.kind == 'play' else 'Playback'}", f"c=IN IP4 {media_host}"]
    if offer.kind == "playback" and offer.start and offer.end:
        lines.insert(3, f"u={offer.channel_id}:0")
        lines.append(f"t={int(offer.start.timestamp())} {int(offer.end.timestamp())}")
    else:
        lines.append("t=0 0")
    proto = "RTP/AVP" if offer.mode == "udp" else "TCP/RTP/AVP"
    lines += [f"m=video {media_port} {proto} 96", "a=sendonly", "a=rtpmap:96 PS/90000"]
    if offer.mode != "udp":
        lines += [f"a=setup:{'active' if offer.mode == 'tcp-active' else 'passive'}", "a=connection:new"]
    lines.append(f"y={offer.ssrc}")
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(slots=True)
class UpperDialog:
    """Our side of the upper's INVITE dialog: what our own BYE needs (From/To swapped, our tag)."""

    call_id: str
    channel_id: str
    local: str  # the INVITE's To with our tag: our From
    remote: str  # the INVITE's From (the upper's tag): our To
    remote_uri: str  # the INVITE's Contact: our BYE's Request-URI

    @classmethod
    def of(cls, msg: sip.SipMessage, our_tag: str, channel_id: str) -> UpperDialog:
        to = msg.get("To") or ""
        local = to if "tag=" in to else f"{to};tag={our_tag}"
        contact = msg.get("Contact") or msg.get("From") or ""
        uri = contact[contact.index("<") + 1:contact.index(">")] if "<" in contact and ">" in contact \
            else contact.split(";")[0].strip()
        return cls(msg.call_id, channel_id, local, msg.get("From") or "", uri)


def read_rtsp(body: bytes) -> dict | None:
    """A MANSRTSP playback command from the upper (INFO) as ``playback_control`` arguments, or None when it
    is none we know: ``PAUSE``; ``PLAY`` with ``Scale`` (speed), ``Range: npt=<s>-`` (seek) or neither (resume)."""
    lines = body.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    method = lines[0].split(" ")[0].strip().upper() if lines else ""
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:]) if v}
    if method == "PAUSE":
        return {"pause": True}
    if method != "PLAY":
        return None
    try:
        if "scale" in headers:
            return {"scale": float(headers["scale"])}
        npt = headers.get("range", "").removeprefix("npt=").split("-")[0].strip()
        if npt and npt != "now":
            return {"range_start": float(npt)}
    except ValueError:
        return None
    return {"play": True}
