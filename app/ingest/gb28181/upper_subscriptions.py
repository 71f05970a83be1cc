"""An upper platform's SUBSCRIBEs to this (lower) platform, GB/T 28181 cascade: pure.

The upper subscribes (``Event: Catalog`` / ``presence`` with a MANSCDP ``Query`` body of CmdType Catalog,
MobilePosition or Alarm) for ``Expires`` seconds; it refreshes inside the same dialog (same Call-ID) and
unsubscribes with ``Expires: 0``. We answer 200 (with the granted ``Expires``) and NOTIFY inside the
dialog: a Catalog subscription first gets the current directory (every item with ``Event`` ADD), then each
change of a shared camera as it happens (ADD, DEL, UPDATE, ON, OFF); a MobilePosition subscription gets the
positions of the shared mobile cameras as they move. Alarms of shared cameras go to the upper as
``Notify``/``Alarm`` MESSAGEs (as devices send them to us).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.ingest.gb28181 import manscdp, sip
from app.ingest.gb28181.upper_catalog import catalog_bodies

KINDS = {"catalog": "Catalog", "mobileposition": "MobilePosition", "alarm": "Alarm"}
MAX_EXPIRES = 86400


class SubscribeError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    kind: str  # Catalog | MobilePosition | Alarm
    expires: int  # 0: unsubscribe
    event: str  # the Event header, echoed in our NOTIFYs
    interval: int | None = None  # MobilePosition: seconds between reports the upper asked for


def read_subscribe(msg: sip.SipMessage, default_expires: int = 3600) -> SubscribeRequest:
    event = (msg.get("Event") or "").strip()
    kind = KINDS.get(event.split(";")[0].strip().lower())
    interval = None
    if msg.body:
        try:
            doc = manscdp.parse(msg.body, msg.get("Content-Type"))
        except manscdp.BodyError as e:
            raise SubscribeError(400, "Bad Body") from e
        kind = KINDS.get(doc.cmd_type.lower(), kind)
        raw = manscdp.text(doc.el, "Interval")
        interval = int(raw) if raw and raw.isdigit() else None
    if kind is None:
        raise SubscribeError(489, "Bad Event")
    raw = (msg.get("Expires") or "").split(";")[0].strip()
    expires = int(raw) if raw.isdigit() else default_expires
    return SubscribeRequest(kind, min(expires, MAX_EXPIRES), event or kind, interval)


@dataclass(slots=True)
class UpperSubscription:
    platform_id: int
    kind: str
    call_id: str
    local: str  # the SUBSCRIBE's To with our tag: our NOTIFYs' From
    remote: str  # its From: our NOTIFYs' To
    remote_uri: str  # its Contact: our NOTIFYs' Request-URI
    event: str
    expires_at: float  # loop time
    known: dict[str, dict] = field(default_factory=dict)  # Catalog: DeviceID → the item the upper has

    @classmethod
    def of(cls, pid: int, msg: sip.SipMessage, req: SubscribeRequest, our_tag: str, now: float) -> UpperSubscription:
        to = msg.get("To") or ""
        contact = msg.get("Contact") or msg.get("From") or ""
        uri = contact[contact.index("<") + 1:contact.index(">")] if "<" in contact and ">" in contact \
            else contact.split(";")[0].strip()
        return cls(pid, req.kind, msg.call_id, to if "tag=" in to else f"{to};tag={our_tag}",
                   msg.get("From") or "", uri, req.event, now + req.expires)

    def headers(self, now: float) -> list[tuple[str, str]]:
        left = max(0, int(self.expires_at - now))
        state = f"active;expires={left}" if left else "terminated;reason=timeout"
        return [("Event", self.event), ("Subscription-State", state), ("Content-Type", "Application/MANSCDP+xml")]


def catalog_notify_bodies(items: list[dict], sn: int, device_id: str, encoding: str = "GB2312") -> list[bytes]:
    """Catalog NOTIFY bodies (``Notify`` root) for items each carrying its ``Event``."""
    return [b.replace(b"<Response>", b"<Notify>").replace(b"</Response>", b"</Notify>")
            for b in catalog_bodies(items, sn, device_id, encoding)]


def catalog_change(known: dict[str, dict], device_id: str, item: dict | None) -> dict | None:
    """What the upper is to be told about one camera (its item with ``Event``, or None: nothing new), and
    ``known`` updated. ``item`` None: the camera is gone or no longer shared."""
    prev = known.get(device_id)
    if item is None:
        if prev is None:
            return None
        del known[device_id]
        return {"DeviceID": device_id, "Event": "DEL"}
    known[device_id] = item
    if prev is None:
        return {**item, "Event": "ADD"}
    if prev == item:
        return None
    if {k: v for k, v in prev.items() if k != "Status"} == {k: v for k, v in item.items() if k != "Status"}:
        return {"DeviceID": device_id, "Event": "ON" if item.get("Status") == "ON" else "OFF"}
    return {**item, "Event": "UPDATE"}


def mobile_position_body(sn: int, device_id: str, lon: float, lat: float, at: datetime,
                         encoding: str = "GB2312") -> bytes:
    return manscdp.build("Notify", "MobilePosition", sn, device_id, {
        "Time": at.strftime("%Y-%m-%dT%H:%M:%S"), "Longitude": f"{lon:.7f}", "Latitude": f"{lat:.7f}",
        "Speed": "0.0", "Direction": "0.0", "Altitude": "0"}, encoding=encoding)


def alarm_body(sn: int, device_id: str, *, method: str | int | None, alarm_type: str | int | None, at: datetime,
               description: str, lon: float | None, lat: float | None, encoding: str = "GB2312") -> bytes:
    fields: dict = {"AlarmPriority": "1", "AlarmMethod": str(method or 5),
                    "AlarmTime": at.strftime("%Y-%m-%dT%H:%M:%S"), "AlarmDescription": description[:200]}
    if lon is not None and lat is not None:
        fields |= {"Longitude": f"{float(lon):.7f}", "Latitude": f"{float(lat):.7f}"}
    if alarm_type not in (None, ""):
        fields["Info"] = {"AlarmType": str(alarm_type)}
    return manscdp.build("Notify", "Alarm", sn, device_id, fields, encoding=encoding)
