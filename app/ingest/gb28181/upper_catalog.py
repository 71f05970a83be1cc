"""A lower platform's Catalog answer to its upper: the directory split over as many MESSAGE bodies as needed.

Each body carries the total (``SumNum``) and its own ``DeviceList Num``; the upper counts items until it has
``SumNum`` of them. Bodies are kept under a byte budget (UDP datagrams through real networks) and a count.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.ingest.gb28181.manscdp import _codec

Item = dict[str, "str | dict[str, str]"]
MAX_ITEMS = 20
MAX_BYTES = 8000


def _item_xml(item: Item) -> str:
    el = ET.Element("Item")
    for k, v in item.items():
        sub = ET.SubElement(el, k)
        if isinstance(v, dict):
            for k2, v2 in v.items():
                ET.SubElement(sub, k2).text = v2
        else:
            sub.text = v
    return ET.tostring(el, encoding="unicode")


def _body(sn: int, device_id: str, total: int, items: list[str], encoding: str) -> bytes:
    head = ET.Element("Response")
    for k, v in (("CmdType", "Catalog"), ("SN", str(sn)), ("DeviceID", device_id), ("SumNum", str(total))):
        ET.SubElement(head, k).text = v
    inner = ET.tostring(head, encoding="unicode")[: -len("</Response>")]
    xml = (f'<?xml version="1.0" encoding="{encoding}"?>\r\n{inner}<DeviceList Num="{len(items)}">'
           + "".join(items) + "</DeviceList></Response>\r\n")
    return xml.encode(_codec(encoding) or "utf-8")


def catalog_bodies(items: list[Item], sn: int, device_id: str, encoding: str = "GB2312",
                   max_items: int = MAX_ITEMS, max_bytes: int = MAX_BYTES) -> list[bytes]:
    """Catalog response bodies for ``items`` (all of them, in order); an empty directory is one body."""
    codec = _codec(encoding) or "utf-8"
    total, bodies, page, size = len(items), [], [], 0
    for item in items:
        xml = _item_xml(item)
        n = len(xml.encode(codec, "replace"))
        if page and (len(page) >= max_items or size + n > max_bytes):
            bodies.append(_body(sn, device_id, total, page, encoding))
            page, size = [], 0
        page.append(xml)
        size += n
    if page or not bodies:
        bodies.append(_body(sn, device_id, total, page, encoding))
    return bodies
