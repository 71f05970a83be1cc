"""MANSCDP XML bodies (GB/T 28181 Annex A): decode, parse, build. Pure, no I/O.

Real devices vary: GB2312/GB18030/UTF-8 bodies (the XML declaration may lie), ``<Info>`` vs
``<info>``, fields inside or outside ``<Info>``, extra elements. Tags are lower-cased on parse and
every lookup goes through ``text()``, which also looks inside ``<Info>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from app.ingest.gb28181 import codes


class BodyError(ValueError):
    """The body is not a MANSCDP document we can read."""


_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_\-]+)[\"'][^>]*\?>", re.I)
_DECL_STR = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_\-]+)", re.I)
# GB2312 and GBK are subsets of GB18030: decoding with the superset never loses a character.
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "utf8": "utf-8", "utf-8": "utf-8"}


def _codec(name: str | None) -> str | None:
    return _ALIASES.get(name.lower(), name.lower()) if name else None


def decode(body: bytes, content_type: str | None = None) -> str:
    """Body bytes → text: the XML declaration's encoding, then the Content-Type charset, then
    UTF-8, then GB18030 (a declaration saying UTF-8 over GB2312 bytes is a common vendor bug)."""
    tried = []
    m = _DECL.match(body)
    ct = _CHARSET.search(content_type or "")
    for name in (
        _codec(m.group(1).decode()) if m else None,
        _codec(ct.group(1)) if ct else None,
        "utf-8",
        "gb18030",
    ):
        if not name or name in tried:
            continue
        tried.append(name)
        try:
            return body.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    raise BodyError("body is neither UTF-8 nor GB18030")


def parse_xml(text: str) -> ET.Element:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise BodyError("DTDs are not accepted")  # no entity expansion games
    text = _DECL_STR.sub("", text, count=1)  # the declared encoding no longer applies to str
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as e:
        raise BodyError(f"bad XML: {e}") from e
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = el.tag.rsplit("}", 1)[-1].lower()
    return root


def text(el: ET.Element | None, name: str, default: str | None = None) -> str | None:
    """Text of child ``name`` (case-insensitive), else of ``Info/name``; stripped; '' counts as absent."""
    if el is None:
        return default
    for path in (name.lower(), f"info/{name.lower()}"):
        child = el.find(path)
        if child is not None and child.text is not None and child.text.strip():
            return child.text.strip()
    return default


def _int(v: str | None) -> int | None:
    try:
        return int(float(v)) if v is not None else None
    except ValueError:
        return None


def _float(v: str | None) -> float | None:
    try:
        f = float(v) if v is not None else None
    except ValueError:
        return None
    return f if f is not None and f == f and abs(f) != float("inf") else None


@dataclass(frozen=True, slots=True)
class Document:
    root: str  # 'notify' | 'response' | 'query' | 'control'
    cmd_type: str  # as sent, e.g. 'Keepalive'
    sn: int | None
    device_id: str
    el: ET.Element


def parse(body: bytes, content_type: str | None = None) -> Document:
    el = parse_xml(decode(body, content_type))
    cmd = text(el, "CmdType") or ""
    # Alarm fixtures in the wild omit CmdType; an AlarmMethod says what it is.
    if not cmd and text(el, "AlarmMethod"):
        cmd = "Alarm"
    dev = text(el, "DeviceID") or text(el, "TargetID") or ""
    return Document(el.tag, cmd, _int(text(el, "SN")), dev, el)


def local_time(raw: str | None, tz: ZoneInfo) -> datetime | None:
    """GB times are local wall-clock without zone ('2026-05-31T14:57:23', '…:23.123', space instead
    of T); a zone, if present, wins. Returns UTC or None."""
    if not raw:
        return None
    s = raw.strip().replace(" ", "T")
    s = s[:-1] + "+00:00" if s.endswith("Z") else s
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return t.astimezone(UTC)


# --- Catalog ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class CatalogItem:
    device_id: str
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    owner: str | None = None
    civil_code: str | None = None
    address: str | None = None
    parent_id: str | None = None
    secrecy: int = 0
    status: str | None = None  # online | offline | fault | None
    lon: float | None = None  # raw, in the device's coordinate system
    lat: float | None = None
    ptz_type: int | None = None
    direction_type: int | None = None
    event: str | None = None  # NOTIFY: ADD DEL UPDATE ON OFF VLOST DEFECT

    @property
    def type_code(self) -> int | None:
        return int(self.device_id[10:13]) if len(self.device_id) == 20 and self.device_id.isdigit() else None

    @property
    def is_camera(self) -> bool:
        return self.type_code in codes.CAMERA_TYPES


@dataclass(slots=True)
class CatalogPage:
    device_id: str
    sn: int | None
    sum_num: int | None
    items: list[CatalogItem] = field(default_factory=list)


def _catalog_item(it: ET.Element) -> CatalogItem | None:
    dev = text(it, "DeviceID")
    if not dev:
        return None
    status = text(it, "Status")
    return CatalogItem(
        device_id=dev,
        name=text(it, "Name"),
        manufacturer=text(it, "Manufacturer"),
        model=text(it, "Model"),
        owner=text(it, "Owner"),
        civil_code=text(it, "CivilCode"),
        address=text(it, "Address"),
        parent_id=text(it, "ParentID"),
        secrecy=_int(text(it, "Secrecy")) or 0,
        status=codes.STATUS.get(status.upper()) if status else None,
        lon=_float(text(it, "Longitude")),
        lat=_float(text(it, "Latitude")),
        ptz_type=_int(text(it, "PTZType")),
        direction_type=_int(text(it, "DirectionType")),
        event=(text(it, "Event") or "").upper() or None,
    )


def catalog(doc: Document) -> CatalogPage:
    page = CatalogPage(doc.device_id, doc.sn, _int(text(doc.el, "SumNum")))
    lst = doc.el.find("devicelist")
    for it in lst.findall("item") if lst is not None else []:
        item = _catalog_item(it)
        if item is not None:
            page.items.append(item)
    return page


# --- MobilePosition --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawFix:
    device_id: str
    time: datetime | None  # UTC
    lon: float
    lat: float
    speed: float | None
    direction: float | None
    altitude: float | None


def _fix(el: ET.Element, default_id: str, tz: ZoneInfo, fallback_time: str | None) -> RawFix | None:
    lon, lat = _float(text(el, "Longitude")), _float(text(el, "Latitude"))
    if lon is None or lat is None:
        return None
    dev = text(el, "DeviceID") or text(el, "TargetID") or default_id
    t = local_time(text(el, "CaptureTime") or text(el, "Time") or fallback_time, tz)
    return RawFix(
        dev,
        t,
        lon,
        lat,
        _float(text(el, "Speed")),
        _float(text(el, "Direction")),
        _float(text(el, "Altitude")),
    )


def mobile_positions(doc: Document, tz: ZoneInfo) -> list[RawFix]:
    """Both the flat 2016 form (fields on the root) and the DeviceList/Item form."""
    lst = doc.el.find("devicelist")
    if lst is not None and lst.findall("item"):
        fixes = [_fix(it, doc.device_id, tz, text(doc.el, "Time")) for it in lst.findall("item")]
    else:
        fixes = [_fix(doc.el, doc.device_id, tz, None)]
    return [f for f in fixes if f is not None]


# --- Alarm -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alarm:
    device_id: str
    priority: int | None
    methods: list[int]
    alarm_type: int | None
    time: datetime | None
    description: str | None
    lon: float | None
    lat: float | None

    @property
    def method(self) -> int | None:
        return self.methods[0] if self.methods else None


def alarm(doc: Document, tz: ZoneInfo) -> Alarm:
    el = doc.el
    info = el.find("info")
    # WVP prefers Info/AlarmType over a root AlarmType; so do we.
    atype = _int(text(info, "AlarmType")) if info is not None else None
    atype = atype if atype is not None else _int(text(el, "AlarmType"))
    desc = text(el, "AlarmDescription")
    if desc is None and info is not None:
        desc = text(info.find("alarmtypeparam"), "AlarmDescription")
    return Alarm(
        doc.device_id,
        _int(text(el, "AlarmPriority")),
        codes.alarm_methods(text(el, "AlarmMethod")),
        atype,
        local_time(text(el, "AlarmTime"), tz),
        desc,
        _float(text(el, "Longitude")),
        _float(text(el, "Latitude")),
    )


# --- Building bodies (platform → device) ------------------------------------------------------------


def build(
    root: str,
    cmd_type: str,
    sn: int,
    device_id: str,
    extra: dict[str, str | dict[str, str]] | None = None,
    encoding: str = "GB2312",
) -> bytes:
    """A MANSCDP body; element text is escaped, a dict value becomes nested elements (``<Info>…</Info>``),
    the bytes are in ``encoding`` (declared)."""
    el = ET.Element(root)
    for k, v in {"CmdType": cmd_type, "SN": str(sn), "DeviceID": device_id, **(extra or {})}.items():
        sub = ET.SubElement(el, k)
        if isinstance(v, dict):
            for k2, v2 in v.items():
                ET.SubElement(sub, k2).text = v2
        else:
            sub.text = v
    xml = ET.tostring(el, encoding="unicode")
    return f'<?xml version="1.0" encoding="{encoding}"?>\r\n{xml}\r\n'.encode(_codec(encoding) or "utf-8")
