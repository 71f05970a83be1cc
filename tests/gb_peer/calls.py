"""A device's video dialogs: INVITE (live, Playback, Download) → SDP answer → stream; BYE, CANCEL, INFO."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.ingest.gb28181 import sdp, sip
from tests.gb_peer.rtp import DummyRtp


@dataclass
class Call:
    """One INVITE dialog on the device side."""

    invite: sip.SipMessage
    offer: sdp.Session
    to_tag: str
    state: str = "early"  # early → answered (200 sent) → confirmed (ACK) → ended
    stream: object | None = None  # DummyRtp or media_source.PsRtpSender
    answer: bytes | None = None  # the 200, sent again for a retransmitted INVITE
    cseq: int = 0  # the device's own in-dialog requests (BYE)


class VideoCalls:
    """SimDevice's side of the calls the platform makes (mixed into tests/gb_peer/device.py)."""

    def _answer(self, req: sip.SipMessage, status: int, to_tag: str | None = None, body_bytes: bytes = b"",
                headers=()) -> None:
        resp = sip.make_response(req, status, to_tag=to_tag)
        resp.headers += list(headers)
        if body_bytes:
            resp.headers.append(("Content-Type", "APPLICATION/SDP"))
        resp.body = body_bytes
        self.ep.send_raw(resp.to_bytes())

    @property
    def contact(self) -> str:
        return f"<sip:{self.device_id}@{self.ep.local[0]}:{self.ep.local[1]}>"

    @property
    def streaming(self) -> int:
        """Streams still running (the test's "no stream left running")."""
        return sum(1 for c in self.calls.values() if c.stream is not None and not c.stream.done.is_set())

    def _on_invite(self, msg: sip.SipMessage) -> None:
        call = self.calls.get(msg.call_id)
        if call is not None:  # a retransmission
            if call.answer is not None:
                self.ep.send_raw(call.answer)
            return
        call = self.calls[msg.call_id] = Call(msg, sdp.parse(msg.body), sip.new_tag())
        if self.invite_status is None:
            return  # never answers (the platform's timeout and CANCEL)
        if self.invite_provisional:
            self._answer(msg, 100)
            self._answer(msg, 180, call.to_tag)
        self._task(self._answer_invite(call))

    async def _answer_invite(self, call: Call) -> None:
        msg, offer = call.invite, call.offer
        if self.invite_delay_s:
            await asyncio.sleep(self.invite_delay_s)
            if call.state != "early" or self.vanished:  # cancelled, or gone
                return
        if self.invite_status != 200:
            call.state = "ended"
            call.answer = sip.make_response(msg, self.invite_status, to_tag=call.to_tag).to_bytes()
            self.ep.send_raw(call.answer)
            return
        ssrc = int(offer.ssrc or 0)
        setup = None
        port = 15060  # the device's own media port as it would announce it (we send from an ephemeral one)
        if offer.transport == "tcp" and offer.setup == "active":  # the platform connects: we listen
            call.stream = await self._stream("127.0.0.1", "tcp-listen", ssrc)
            port, setup = call.stream.port, "passive"
        elif offer.transport == "tcp":
            port, setup = 9, "active"  # RFC 4145: an active endpoint announces the discard port
        lines = [
            "v=0",
            f"o={sip.uri_user(msg.uri or '')} 0 0 IN IP4 127.0.0.1",
            f"s={offer.name or 'Play'}",
            "c=IN IP4 127.0.0.1",
            f"t={offer.start or 0} {offer.end or 0}",
            f"m=video {port} {'TCP/RTP/AVP' if offer.transport == 'tcp' else 'RTP/AVP'} 96",
            "a=sendonly",
            "a=rtpmap:96 PS/90000",
        ]
        if setup:
            lines += [f"a=setup:{setup}", "a=connection:new"]
        lines += [f"y={offer.ssrc or '0000000000'}", "f=v/2/5/25/1/4096a///"]
        resp = sip.make_response(msg, 200, to_tag=call.to_tag)
        resp.headers += [("Contact", self.contact), ("Content-Type", "APPLICATION/SDP")]
        resp.body = ("\r\n".join(lines) + "\r\n").encode()
        call.answer = resp.to_bytes()
        call.state = "answered"
        self.ep.send_raw(call.answer)

    async def _stream(self, dest, transport: str, ssrc: int):
        if self.media == "ps":
            from tests.media_source import start_ps_rtp  # PyAV + libx264: imported only when used

            return await start_ps_rtp(dest, transport, ssrc, size=self.media_size)
        return await DummyRtp.start(dest, transport, ssrc)

    def _on_ack(self, msg: sip.SipMessage) -> None:
        call = self.calls.get(msg.call_id)
        if call is None or call.state != "answered":
            return  # an ACK for an error answer, or a retransmission
        call.state = "confirmed"
        offer = call.offer
        if call.stream is None:
            transport = "tcp" if offer.transport == "tcp" else "udp"
            self._task(self._start_stream(call, (offer.host, offer.port), transport, int(offer.ssrc or 0)))

    async def _start_stream(self, call: Call, dest, transport: str, ssrc: int) -> None:
        call.stream = await self._stream(dest, transport, ssrc)
        if call.state == "ended":  # BYE'd while the stream was starting
            await call.stream.stop()

    def _on_bye(self, msg: sip.SipMessage) -> None:
        call = self.calls.get(msg.call_id)
        if call is None:
            self._answer(msg, 481)
            return
        self.byes.append(msg.call_id)
        self._answer(msg, 200)
        self._end_call(call)

    def _end_call(self, call: Call) -> None:
        call.state = "ended"
        if call.stream is not None:
            self._task(call.stream.stop())

    def _on_cancel(self, msg: sip.SipMessage) -> None:
        self.cancels.append(msg.call_id)
        call = self.calls.get(msg.call_id)
        if not self.answer_cancel:
            return
        self._answer(msg, 200 if call is not None else 481)
        if call is not None and call.state == "early":
            call.state = "ended"
            self._answer(call.invite, 487, call.to_tag)

    def _on_info(self, msg: sip.SipMessage) -> None:
        call = self.calls.get(msg.call_id)
        if call is None or call.state == "ended":
            self._answer(msg, 481)
            return
        self.infos.append(msg.body.decode("utf-8", "replace"))
        self._answer(msg, 200)

    def vanish(self) -> None:
        """Gone mid-stream (power cut, cable): streams stop and nothing is answered any more."""
        self.vanished = True
        for call in self.calls.values():
            self._end_call(call)

    async def send_bye(self, call_id: str | None = None, timeout_s: float = 5.0) -> sip.SipMessage | None:
        """End a call from the device's side (end of a recording); the only open call by default."""
        call = self.calls[call_id] if call_id else next(c for c in self.calls.values() if c.state == "confirmed")
        inv = call.invite
        call.cseq += 1
        host, port = self.ep.local
        contact = inv.get("Contact") or ""  # the platform's Contact: where in-dialog requests go
        uri = contact[contact.find("<") + 1 : contact.find(">")] if "<" in contact else contact.split(";")[0]
        bye = sip.SipMessage(method="BYE", uri=uri)
        bye.headers = [
            ("Via", f"SIP/2.0/{self.ep.transport_name} {host}:{port};rport;branch={sip.new_branch()}"),
            ("From", f"{inv.get('To')};tag={call.to_tag}"),
            ("To", inv.get("From") or ""),
            ("Call-ID", inv.call_id),
            ("CSeq", f"{call.cseq} BYE"),
            ("Max-Forwards", "70"),
            ("Contact", self.contact),
        ]
        self._end_call(call)
        return await self.ep.transact(bye, timeout_s)
