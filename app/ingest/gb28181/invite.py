"""Video INVITE dialogs (live ``Play``, ``Playback``, ``Download``): the platform is the caller.

INVITE (SDP offer: where to send the stream) → 100/180 → 200 with the device's SDP → ACK → the device
streams RTP to the offered address until either side sends BYE. A 4xx-6xx answer raises
``InviteError``; no final answer within the timeout sends CANCEL and raises ``InviteTimeout`` (a 200
that still arrives afterwards is ACKed and ended with BYE, so no stream is left running). Playback is
steered in-dialog with INFO (MANSRTSP body: scale, pause, resume, seek).

In-dialog requests carry the Contact of the device's 200 as Request-URI but travel over the flow the
device registered from (its UDP address or TCP connection): devices behind NAT put private addresses in
Contact, and the registered flow is the one known to reach them.

Open dialogs are in ``server.dialogs`` (Call-ID → ``Dialog``). A dialog ends (``dialog.ended`` set,
``dialog.end_reason`` says why, ``gb28181.dialog`` published) on our BYE, the device's BYE, the
device going offline (no BYE possible) and server stop (BYE sent).

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``device_of``, ``new_request``, ``send_request``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from app.ingest.gb28181 import sdp, sip
from app.ingest.gb28181.registry import Device

log = logging.getLogger("app.ingest.gb28181")

SDP_TYPE = "APPLICATION/SDP"
MANSRTSP = "Application/MANSRTSP"
_TX_LINGER_S = 32.0  # RFC 3261 Timer D / 64·T1: late and retransmitted finals still get their ACK


class InviteError(Exception):
    """The device refused or could not set up the stream; ``status`` is the SIP code (None: not sent)."""

    def __init__(self, channel_id: str, status: int | None, reason: str) -> None:
        self.channel_id, self.status, self.reason = channel_id, status, reason
        code = f"{status} " if status is not None else ""
        super().__init__(f"INVITE {channel_id}: {code}{reason}")


class InviteTimeout(InviteError):
    """No final answer in time; the INVITE was cancelled."""


class DeviceUnavailable(InviteError):
    """No online registered device carries the channel."""


class DialogError(Exception):
    """An in-dialog request (INFO) failed: the dialog has ended, or the device answered an error."""


@dataclass(eq=False)
class Dialog:
    call_id: str
    channel_id: str
    device_id: str  # the registered device the dialog runs through
    kind: str  # play | playback | download
    mode: str  # udp | tcp-passive | tcp-active
    offered_ssrc: str
    answer: sdp.Session  # the device's SDP
    local_tag: str
    remote_tag: str
    remote_uri: str  # Contact of the device's 200: the Request-URI of ACK, INFO and BYE
    cseq: int = 1
    rtsp_cseq: int = 0
    end_reason: str | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def address(self) -> str:
        """Where the device sends from (UDP) or listens / connects from (TCP)."""
        return self.answer.host

    @property
    def port(self) -> int:
        return self.answer.port

    @property
    def setup(self) -> str | None:
        """The device's TCP role (``active``: it connects to us; ``passive``: we connect to it)."""
        return self.answer.setup

    @property
    def ssrc(self) -> str:
        """The SSRC the stream will carry: the device's ``y=``, else the one offered."""
        return self.answer.ssrc or self.offered_ssrc


@dataclass(eq=False)
class _InviteTx:
    dev: Device
    request: sip.SipMessage
    state: str = "calling"  # calling → done | abandoned (→ cleared once a late 200 was BYE'd)
    ack: bytes = b""  # the ACK of its 200, sent again for each retransmission of that 200


def _contact_uri(value: str | None) -> str | None:
    if not value:
        return None
    if "<" in value and ">" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";")[0].strip() or None


class Invite:
    def next_ssrc(self, kind: str = "play") -> str:
        """A fresh 10-digit SSRC for ``kind`` (not one an open dialog uses)."""
        in_use = {d.offered_ssrc for d in self.dialogs.values()}
        for _ in range(10000):
            self._ssrc_seq += 1
            ssrc = sdp.make_ssrc(kind, self.settings.domain, self._ssrc_seq)
            if ssrc not in in_use:
                return ssrc
        raise RuntimeError("all 10,000 SSRCs in use")

    async def invite(
        self,
        channel_id: str,
        media_host: str,
        media_port: int,
        mode: str,
        ssrc: str,
        kind: str = "play",
        start: datetime | None = None,
        end: datetime | None = None,
        speed: int | None = None,
        *,
        timeout_s: float | None = None,
    ) -> Dialog:
        """Ask the device carrying ``channel_id`` to stream to ``media_host:media_port``; returns the
        established dialog. Raises ``DeviceUnavailable``, ``InviteError`` (refused, or an unreadable
        answer), ``InviteTimeout`` (no final answer within ``timeout_s``; CANCEL sent)."""
        offer = sdp.offer(
            channel_id=channel_id, media_host=media_host, media_port=media_port, mode=mode, ssrc=ssrc,
            kind=kind, start=start, end=end, speed=speed,
        )  # ValueError for a bad mode/kind/range: the caller's mistake, before anything is sent
        dev = self.device_of(channel_id)
        if dev is None or not dev.online:
            self.stats["invite_no_device"] += 1
            raise DeviceUnavailable(channel_id, None, "no online device carries this channel")
        s = self.settings
        port = self.udp_port if dev.transport == "UDP" else self.tcp_port
        req = self.new_request(
            dev,
            "INVITE",
            offer,
            [
                ("Contact", f"<sip:{s.server_id}@{self.host}:{port}>"),
                ("Subject", f"{channel_id}:{ssrc},{s.server_id}:0"),
            ],
            uri=f"sip:{channel_id}@{dev.addr[0]}:{dev.addr[1]}",
            to_user=channel_id,
            call_id=f"{secrets.token_hex(8)}@{self.host}",
            content_type=SDP_TYPE,
        )
        tx = _InviteTx(dev, req)
        self._invites[req.branch] = tx
        asyncio.get_running_loop().call_later(
            _TX_LINGER_S + (timeout_s or s.transaction_timeout_s), self._invites.pop, req.branch, None
        )
        resp = await self.send_request(dev, req, timeout_s)
        if resp is None:
            tx.state = "abandoned"
            self.stats["invite_timeout"] += 1
            self._spawn(self._cancel(dev, req), "cancel")
            raise InviteTimeout(channel_id, 408, "no answer from the device (INVITE cancelled)")
        tx.state = "done"
        if resp.status >= 300:  # ACKed by _on_invite_final
            self.stats[f"invite_{resp.status}"] += 1
            raise InviteError(channel_id, resp.status, resp.reason or "refused")
        dialog = self._dialog(dev, req, resp, kind, mode, ssrc)
        tx.ack = self._ack(dev, dialog)
        dev.send(tx.ack)
        try:
            dialog.answer = sdp.parse(resp.body)
        except sdp.SdpError as e:
            self._end(dialog, f"bad answer: {e}")
            self._spawn(self._send_bye(dev, dialog), "bye")
            raise InviteError(channel_id, resp.status, f"unusable SDP answer ({e})") from e
        if self.registry.get(dev.device_id) is not dev or not dev.online:  # went offline while ringing
            self._end(dialog, "device offline")
            self._spawn(self._send_bye(dev, dialog, 2.0), "bye")
            raise DeviceUnavailable(channel_id, None, "the device went offline during the INVITE")
        self.dialogs[dialog.call_id] = dialog
        self.stats["invite_ok"] += 1
        return dialog

    def _dialog(
        self, dev: Device, req: sip.SipMessage, resp: sip.SipMessage, kind: str, mode: str, ssrc: str
    ) -> Dialog:
        return Dialog(
            call_id=req.call_id,
            channel_id=sip.uri_user(req.uri or ""),
            device_id=dev.device_id,
            kind=kind,
            mode=mode,
            offered_ssrc=ssrc,
            answer=sdp.Session(),
            local_tag=sip.header_params(req.get("From") or "").get("tag", ""),
            remote_tag=sip.header_params(resp.get("To") or "").get("tag", ""),
            remote_uri=_contact_uri(resp.get("Contact")) or req.uri or "",
        )

    def _ack(self, dev: Device, dialog: Dialog) -> bytes:
        """The ACK of a 2xx: end to end, to the 200's Contact, a branch of its own."""
        return self.new_request(
            dev, "ACK", uri=dialog.remote_uri, to_user=dialog.channel_id, call_id=dialog.call_id,
            from_tag=dialog.local_tag, to_tag=dialog.remote_tag, cseq=1, content_type=None,
        ).to_bytes()

    def _on_invite_final(self, resp: sip.SipMessage) -> None:
        """Every final answer to an INVITE is ACKed: a 2xx end to end (again for each retransmission),
        a 4xx-6xx hop by hop with the INVITE's branch. A 2xx to an abandoned INVITE is ACKed and BYE'd."""
        tx = self._invites.get(resp.branch)
        if tx is None:
            return
        if resp.status >= 300:
            tx.dev.send(self._ack_failure(tx.request, resp).to_bytes())
        elif tx.ack:
            tx.dev.send(tx.ack)
        elif tx.state == "abandoned":
            tx.state = "cleared"
            self.stats["invite_late_200"] += 1
            late = self._dialog(tx.dev, tx.request, resp, "play", "udp", "")
            tx.dev.send(self._ack(tx.dev, late))
            self._spawn(self._send_bye(tx.dev, late), "bye")

    def _ack_failure(self, req: sip.SipMessage, resp: sip.SipMessage) -> sip.SipMessage:
        ack = sip.SipMessage(method="ACK", uri=req.uri)
        ack.headers = [
            ("Via", req.get("Via") or ""),
            ("From", req.get("From") or ""),
            ("To", resp.get("To") or req.get("To") or ""),
            ("Call-ID", req.call_id),
            ("CSeq", f"{req.cseq[0]} ACK"),
            ("Max-Forwards", "70"),
        ]
        return ack

    async def _cancel(self, dev: Device, req: sip.SipMessage) -> None:
        cancel = sip.SipMessage(method="CANCEL", uri=req.uri)
        cancel.headers = [
            ("Via", req.get("Via") or ""),
            ("From", req.get("From") or ""),
            ("To", req.get("To") or ""),
            ("Call-ID", req.call_id),
            ("CSeq", f"{req.cseq[0]} CANCEL"),
            ("Max-Forwards", "70"),
            ("User-Agent", "SharpEyes"),
        ]
        await self.send_request(dev, cancel)

    # --- ending ------------------------------------------------------------------------------------

    def _end(self, dialog: Dialog, reason: str) -> bool:
        """Mark ``dialog`` ended (once); False if it already was."""
        if dialog.end_reason is not None:
            return False
        dialog.end_reason = reason
        dialog.ended.set()
        self.dialogs.pop(dialog.call_id, None)
        self.stats["dialog_ended"] += 1
        self._spawn(
            self._publish(
                "gb28181.dialog",
                {"call_id": dialog.call_id, "channel_id": dialog.channel_id, "device_id": dialog.device_id,
                 "kind": dialog.kind, "status": "ended", "reason": reason},
            ),
            "publish",
        )
        return True

    async def bye(self, dialog: Dialog, reason: str = "bye") -> bool:
        """End ``dialog`` with a BYE; idempotent. True when the device confirmed (200, or 481: it had
        already forgotten the dialog)."""
        if not self._end(dialog, reason):
            return False
        dev = self.registry.get(dialog.device_id)
        if dev is None:
            return False
        return await self._send_bye(dev, dialog)

    async def _send_bye(self, dev: Device, dialog: Dialog, timeout_s: float | None = None) -> bool:
        dialog.cseq += 1
        msg = self.new_request(
            dev, "BYE", uri=dialog.remote_uri, to_user=dialog.channel_id, call_id=dialog.call_id,
            from_tag=dialog.local_tag, to_tag=dialog.remote_tag, cseq=dialog.cseq, content_type=None,
        )
        resp = await self.send_request(dev, msg, timeout_s)
        ok = resp is not None and resp.status in (200, 481)
        self.stats["bye_ok" if ok else "bye_failed"] += 1
        return ok

    def _on_bye(self, ctx) -> None:
        """The device ends the stream (end of a recording, encoder restart, operator)."""
        msg = ctx[0]
        dialog = self.dialogs.get(msg.call_id)
        if dialog is None:
            self._reply(ctx, 481)
            return
        self._reply(ctx, 200)
        self._end(dialog, "device bye")

    def _end_device_dialogs(self, device_id: str, why: str) -> None:
        """The device went offline: its streams are gone; a BYE is still tried while it is registered."""
        for dialog in [d for d in self.dialogs.values() if d.device_id == device_id]:
            self._end(dialog, f"device offline ({why})")
            dev = self.registry.get(device_id)
            if dev is not None:
                self._spawn(self._send_bye(dev, dialog, 2.0), "bye")

    async def _bye_all(self, timeout_s: float = 2.0) -> None:
        """Server stop: BYE every open dialog (bounded), so no device keeps streaming to nobody."""
        byes = []
        for dialog in list(self.dialogs.values()):
            dev = self.registry.get(dialog.device_id)
            self._end(dialog, "server stopping")
            if dev is not None:
                byes.append(self._send_bye(dev, dialog, timeout_s))
        if byes:
            with contextlib.suppress(Exception):
                await asyncio.gather(*byes, return_exceptions=True)

    # --- playback control --------------------------------------------------------------------------

    async def playback_control(
        self,
        dialog: Dialog,
        *,
        scale: float | None = None,
        pause: bool = False,
        play: bool = False,
        range_start: float | None = None,
    ) -> None:
        """One MANSRTSP command over INFO: ``scale`` (speed, e.g. 0.5, 2.0, 4.0), ``pause``, ``play``
        (resume) or ``range_start`` (seek to seconds from the recording's start). Raises ``ValueError``
        for a bad command, ``DialogError`` when the dialog ended or the device refused."""
        chosen = [scale is not None, pause, play, range_start is not None]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of scale, pause, play, range_start")
        if scale is not None and not scale > 0:
            raise ValueError("scale must be > 0")
        if range_start is not None and not range_start >= 0:
            raise ValueError("range_start must be ≥ 0 seconds")
        if dialog.end_reason is not None:
            raise DialogError(f"dialog {dialog.call_id} has ended ({dialog.end_reason})")
        dev = self.registry.get(dialog.device_id)
        if dev is None:
            raise DialogError(f"device {dialog.device_id} is not registered")
        dialog.rtsp_cseq += 1
        n = dialog.rtsp_cseq
        if pause:
            rtsp = f"PAUSE RTSP/1.0\r\nCSeq: {n}\r\nPauseTime: now\r\n"
        elif scale is not None:
            rtsp = f"PLAY RTSP/1.0\r\nCSeq: {n}\r\nScale: {float(scale)}\r\n"
        elif range_start is not None:
            rtsp = f"PLAY RTSP/1.0\r\nCSeq: {n}\r\nRange: npt={range_start:g}-\r\n"
        else:
            rtsp = f"PLAY RTSP/1.0\r\nCSeq: {n}\r\nRange: npt=now-\r\n"
        dialog.cseq += 1
        msg = self.new_request(
            dev, "INFO", rtsp.encode(), uri=dialog.remote_uri, to_user=dialog.channel_id,
            call_id=dialog.call_id, from_tag=dialog.local_tag, to_tag=dialog.remote_tag, cseq=dialog.cseq,
            content_type=MANSRTSP,
        )
        resp = await self.send_request(dev, msg)
        if resp is None:
            raise DialogError(f"INFO to {dialog.channel_id}: no answer")
        if resp.status != 200:
            if resp.status == 481:
                self._end(dialog, "device forgot the dialog")
            raise DialogError(f"INFO to {dialog.channel_id}: {resp.status} {resp.reason}")
