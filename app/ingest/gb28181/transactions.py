"""Requests the platform sends to devices (client transactions): build, send, retransmit over UDP, match
the final response by Via branch and method (an INVITE and its CANCEL share the branch).

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from app.ingest.gb28181 import manscdp, sip
from app.ingest.gb28181.registry import Device

MANSCDP = "Application/MANSCDP+xml"


class Transactions:
    def _on_response(self, msg: sip.SipMessage) -> None:
        status, method = msg.status or 0, msg.cseq[1]
        if status < 200:
            on_provisional = self._provisional.get(msg.branch)
            if on_provisional is not None:
                on_provisional(msg)
            return
        if method == "INVITE":
            self._on_invite_final(msg)  # invite.py: the ACK, retransmitted 2xx included
        # An INVITE and its CANCEL share the branch: the method tells their answers apart.
        fut = self._pending.get((msg.branch, method))
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def next_sn(self) -> int:
        self._sn += 1
        return self._sn

    def new_request(
        self,
        dev: Device,
        method: str,
        body: bytes = b"",
        headers=(),
        *,
        uri: str | None = None,
        to_user: str | None = None,
        call_id: str | None = None,
        from_tag: str | None = None,
        to_tag: str | None = None,
        cseq: int = 1,
        branch: str | None = None,
        content_type: str | None = MANSCDP,
    ) -> sip.SipMessage:
        """A request to ``dev`` (or, with ``uri``/``to_user``, to one of its channels or dialogs)."""
        s = self.settings
        msg = sip.SipMessage(method=method, uri=uri or f"sip:{dev.device_id}@{dev.addr[0]}:{dev.addr[1]}")
        port = self.udp_port if dev.transport == "UDP" else self.tcp_port
        msg.headers = [
            ("Via", f"SIP/2.0/{dev.transport} {self.host}:{port};rport;branch={branch or sip.new_branch()}"),
            ("From", f"<sip:{s.server_id}@{s.domain}>;tag={from_tag or sip.new_tag()}"),
            ("To", f"<sip:{to_user or dev.device_id}@{s.domain}>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", call_id or f"{secrets.token_hex(8)}@{self.host}"),
            ("CSeq", f"{cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "SharpEyes"),
            *headers,
        ]
        if body and content_type:
            msg.headers.append(("Content-Type", content_type))
        msg.body = body
        return msg

    async def send_request(
        self,
        dev: Device,
        msg: sip.SipMessage,
        timeout_s: float | None = None,
        on_provisional: Callable[[sip.SipMessage], None] | None = None,
    ) -> sip.SipMessage | None:
        """Send ``msg`` and wait for its final response (None on timeout). Over UDP it is retransmitted
        with RFC 3261 Timer A (0.5 s doubling, capped at 4 s) until a final or, for an INVITE, a
        provisional response arrives."""
        branch, method = msg.branch, msg.method or ""
        data = msg.to_bytes()
        fut = asyncio.get_running_loop().create_future()
        self._pending[branch, method] = fut
        proceeding = False

        def provisional(resp: sip.SipMessage) -> None:
            nonlocal proceeding
            proceeding = True
            if on_provisional is not None:
                on_provisional(resp)

        if method == "INVITE":
            self._provisional[branch] = provisional
        self.stats[f"out_{method.lower()}"] += 1
        try:
            deadline = self.now() + (timeout_s if timeout_s is not None else self.settings.transaction_timeout_s)
            interval = 0.5
            dev.send(data)
            while True:
                udp = dev.transport == "UDP"
                wait = min(interval, deadline - self.now()) if udp else deadline - self.now()
                if wait <= 0:
                    self.stats["out_timeout"] += 1
                    return None
                done, _ = await asyncio.wait({fut}, timeout=wait)
                if done:
                    return fut.result()
                if udp and not proceeding:
                    dev.send(data)
                    interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop((branch, method), None)
            self._provisional.pop(branch, None)

    async def request(
        self,
        dev: Device,
        method: str,
        body: bytes = b"",
        headers=(),
        *,
        call_id: str | None = None,
        from_tag: str | None = None,
        to_tag: str | None = None,
        cseq: int = 1,
        content_type: str | None = MANSCDP,
    ) -> sip.SipMessage | None:
        """Send a request to a device and wait for its final response (None on timeout)."""
        msg = self.new_request(
            dev, method, body, headers, call_id=call_id, from_tag=from_tag, to_tag=to_tag, cseq=cseq,
            content_type=content_type,
        )
        return await self.send_request(dev, msg)

    async def query(self, dev: Device, cmd_type: str, extra: dict | None = None) -> sip.SipMessage | None:
        body = manscdp.build("Query", cmd_type, self.next_sn(), dev.device_id, extra)
        return await self.request(dev, "MESSAGE", body)
