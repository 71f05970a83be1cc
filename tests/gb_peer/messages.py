"""MANSCDP bodies the simulated device sends: catalog items, the XML envelope, a tag reader."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

DEVICE_TZ = ZoneInfo("Asia/Shanghai")  # the server's default device_tz


@dataclass
class Channel:
    gb_id: str
    name: str
    lon: float | None = None
    lat: float | None = None
    ptz_type: int | None = None
    civil_code: str | None = None
    status: str = "ON"
    parent_id: str | None = None
    secrecy: int = 0
    direction_type: int | None = None
    info_inside: bool = True  # PTZType inside <Info> (WVP) or at item level (other vendors)

    def xml(self, event: str | None = None, lowercase_info: bool = False) -> str:
        info_tag = "info" if lowercase_info else "Info"
        parts = [
            f"<DeviceID>{self.gb_id}</DeviceID>",
            f"<Name>{escape(self.name)}</Name>",
            "<Manufacturer>SimCam</Manufacturer>",
            "<Model>SIM-1</Model>",
            "<Owner>Owner</Owner>",
        ]
        if self.civil_code:
            parts.append(f"<CivilCode>{self.civil_code}</CivilCode>")
        parts += ["<Address>Addr</Address>", "<Parental>0</Parental>"]
        if self.parent_id:
            parts.append(f"<ParentID>{self.parent_id}</ParentID>")
        parts += [
            "<SafetyWay>0</SafetyWay>",
            "<RegisterWay>1</RegisterWay>",
            f"<Secrecy>{self.secrecy}</Secrecy>",
            f"<Status>{self.status}</Status>",
            "<VendorExtra>x</VendorExtra>",
        ]
        if self.lon is not None:
            parts += [f"<Longitude>{self.lon}</Longitude>", f"<Latitude>{self.lat}</Latitude>"]
        info = ""
        if self.ptz_type is not None:
            ptz = f"<PTZType>{self.ptz_type}</PTZType>"
            if self.info_inside:
                info += ptz
            else:
                parts.append(ptz)
        if self.direction_type is not None:
            info += f"<DirectionType>{self.direction_type}</DirectionType>"
        if info:
            parts.append(f"<{info_tag}>{info}</{info_tag}>")
        if event:
            parts.append(f"<Event>{event}</Event>")
        return "<Item>" + "".join(parts) + "</Item>"


def body(root: str, cmd: str, sn: int, device_id: str, inner: str, charset: str = "GB2312") -> bytes:
    xml = (
        f'<?xml version="1.0" encoding="{charset}"?>\r\n<{root}>\r\n<CmdType>{cmd}</CmdType>\r\n'
        f"<SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n{inner}</{root}>\r\n"
    )
    return xml.encode("gb18030" if charset.upper() in ("GB2312", "GB18030", "GBK") else "utf-8")


def xml_tag(text: str, name: str) -> str:
    return text.split(f"<{name}>")[1].split(f"</{name}>")[0]
