"""What a device sends on its own: REGISTER (digest), keepalives, positions, alarms, catalog events."""

from __future__ import annotations

import secrets
from datetime import datetime
from xml.sax.saxutils import escape

from app.ingest.gb28181 import digest, sip
from tests.gb_peer.messages import Channel, body


class DeviceReports:
    """SimDevice's requests to the platform (mixed into the dataclass in tests/gb_peer/device.py)."""

    def _request(
        self,
        method: str,
        body_bytes: bytes = b"",
        headers=(),
        call_id: str | None = None,
        to_tag: str | None = None,
    ) -> sip.SipMessage:
        self.cseq += 1
        host, port = self.ep.local
        msg = sip.SipMessage(method=method, uri=f"sip:{self.server_id}@{self.domain}")
        msg.headers = [
            ("Via", f"SIP/2.0/{self.ep.transport_name} {host}:{port};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{self.device_id}@{self.domain}>;tag={self.from_tag}"),
            (
                "To",
                f"<sip:{(self.device_id if method == 'REGISTER' else self.server_id)}@{self.domain}>"
                + (f";tag={to_tag}" if to_tag else ""),
            ),
            ("Call-ID", call_id or (self.call_id if method == "REGISTER" else secrets.token_hex(8))),
            ("CSeq", f"{self.cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "SimCam"),
            *headers,
        ]
        if body_bytes:
            msg.headers.append(("Content-Type", "Application/MANSCDP+xml"))
        msg.body = body_bytes
        return msg

    async def register(
        self, expires: int = 3600, password: str | None = None, timeout_s: float = 5.0
    ) -> sip.SipMessage | None:
        """REGISTER → 401 → REGISTER with Authorization; returns the final response."""
        contact = [
            ("Contact", f"<sip:{self.device_id}@{self.ep.local[0]}:{self.ep.local[1]}>"),
            ("Expires", str(expires)),
        ]
        if self.gb_version:
            contact.append(("X-GB-Ver", self.gb_version))
        resp = await self.ep.transact(self._request("REGISTER", headers=contact), timeout_s)
        if resp is None or resp.status != 401:
            return resp
        ch = digest.parse_authorization(resp.get("WWW-Authenticate") or "")
        auth = digest.authorization(
            self.device_id,
            ch["realm"],
            password or self.password,
            ch["nonce"],
            f"sip:{self.server_id}@{self.domain}",
            qop=self.qop,
        )
        return await self.ep.transact(
            self._request("REGISTER", headers=[*contact, ("Authorization", auth)]), timeout_s
        )

    async def message(
        self, body_bytes: bytes, method: str = "MESSAGE", headers=(), timeout_s: float = 5.0
    ) -> sip.SipMessage | None:
        return await self.ep.transact(self._request(method, body_bytes, headers), timeout_s)

    def next_sn(self) -> int:
        self.sn += 1
        return self.sn

    async def keepalive(self, timeout_s: float = 5.0) -> sip.SipMessage | None:
        return await self.message(
            body(
                "Notify", "Keepalive", self.next_sn(), self.device_id, "<Status>OK</Status>\r\n", self.charset
            ),
            timeout_s=timeout_s,
        )

    def position_body(
        self, fixes: list[tuple[str, datetime, float, float, float, float]], form: str
    ) -> bytes:
        """fixes: (device id, local time, lon, lat, speed, direction)."""
        if form == "flat":
            did, t, lon, lat, sp, d = fixes[0]
            inner = (
                f"<Time>{t:%Y-%m-%dT%H:%M:%S}</Time><Longitude>{lon}</Longitude><Latitude>{lat}</Latitude>"
                f"<Speed>{sp}</Speed><Direction>{d}</Direction><Altitude>12</Altitude>\r\n"
            )
            return body("Notify", "MobilePosition", self.next_sn(), did, inner, self.charset)
        items = "".join(
            f"<Item><DeviceID>{did}</DeviceID><CaptureTime>{t:%Y-%m-%dT%H:%M:%S}</CaptureTime>"
            f"<Longitude>{lon}</Longitude><Latitude>{lat}</Latitude><Speed>{sp}</Speed>"
            f"<Direction>{d}</Direction></Item>"
            for did, t, lon, lat, sp, d in fixes
        )
        inner = (
            f"<Time>{fixes[0][1]:%Y-%m-%dT%H:%M:%S}</Time><SumNum>{len(fixes)}</SumNum>"
            f'<DeviceList Num="{len(fixes)}">{items}</DeviceList>\r\n'
        )
        return body("Notify", "MobilePosition", self.next_sn(), self.device_id, inner, self.charset)

    async def send_positions(
        self, fixes, form: str = "flat", method: str = "NOTIFY", timeout_s: float = 5.0
    ) -> sip.SipMessage | None:
        headers = []
        sub = self.subscriptions.get("MobilePosition")
        if method == "NOTIFY":
            headers = [
                ("Event", (sub.get("Event") if sub else None) or "presence"),
                ("Subscription-State", "active;expires=3600"),
            ]
        return await self.message(self.position_body(fixes, form), method, headers, timeout_s)

    async def send_alarm(
        self,
        channel_id: str,
        method: int = 5,
        alarm_type: int = 2,
        priority: int = 1,
        description: str = "移动侦测",
        lon: float | None = None,
        lat: float | None = None,
        when: datetime | None = None,
        cmd_type: bool = True,
    ) -> sip.SipMessage | None:
        when = when or datetime.now()
        inner = (
            f"<AlarmPriority>{priority}</AlarmPriority><AlarmMethod>{method}</AlarmMethod>"
            f"<AlarmTime>{when:%Y-%m-%dT%H:%M:%S}</AlarmTime>"
            f"<AlarmDescription>{escape(description)}</AlarmDescription>"
        )
        if lon is not None:
            inner += f"<Longitude>{lon}</Longitude><Latitude>{lat}</Latitude>"
        inner += f"<info><AlarmType>{alarm_type}</AlarmType></info><AlarmInfo>10</AlarmInfo>\r\n"
        data = body("Notify", "Alarm", self.next_sn(), channel_id, inner, self.charset)
        if not cmd_type:
            data = data.replace(b"<CmdType>Alarm</CmdType>", b"")
        return await self.message(data)

    async def send_catalog_event(self, events: list[tuple[Channel, str]]) -> sip.SipMessage | None:
        items = "".join(ch.xml(ev) for ch, ev in events)
        inner = f'<SumNum>{len(events)}</SumNum><DeviceList Num="{len(events)}">{items}</DeviceList>\r\n'
        return await self.message(
            body("Notify", "Catalog", self.next_sn(), self.device_id, inner, self.charset),
            "NOTIFY",
            [("Event", "Catalog"), ("Subscription-State", "active;expires=3600")],
        )
