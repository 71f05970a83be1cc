"""GA/T 1400 answers, times and envelopes. Pure.

Vendors differ: keys in other letter cases, a single object where a list is due, numbers as strings, the
list object sent bare. All of that is accepted here; what cannot be read is a ``BadBody`` (the whole request,
HTTP 400 with status 7 or 8), never an exception that escapes."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

import orjson

# ResponseStatusObject.StatusCode (GA/T 1400.4 appendix): 0 OK, 1 other error, 2 device busy, 3 device error,
# 4 invalid operation, 5/6 invalid XML format/content, 7/8 invalid JSON format/content, 9 rebooting.
OK = 0
OTHER_ERROR = 1
DEVICE_BUSY = 2
INVALID_OPERATION = 4
INVALID_JSON_FORMAT = 7
INVALID_JSON_CONTENT = 8

MAX_OBJECTS = 1000  # objects in one upload; a device batches far fewer
_DEVICE_ID = re.compile(r"^[0-9]{20}$")
_TIME = re.compile(r"^([0-9]{14})([0-9]{1,3})?$")


class BadBody(ValueError):
    """The request as a whole cannot be read: HTTP 400 with ``code``."""

    def __init__(self, message: str, code: int = INVALID_JSON_CONTENT) -> None:
        super().__init__(message)
        self.code = code


def local_time(at: datetime, tz: tzinfo) -> str:
    """``yyyyMMddHHmmss`` in the devices' zone (GA/T 1400 times carry no zone)."""
    return at.astimezone(tz).strftime("%Y%m%d%H%M%S")


def parse_time(value: Any, tz: tzinfo) -> datetime:
    """``yyyyMMddHHmmss`` (some devices add milliseconds) in ``tz`` → aware datetime; ValueError if not."""
    s = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    m = _TIME.match(s)
    if m is None:
        raise ValueError("not a yyyyMMddHHmmss time")
    d = m.group(1)
    ms = int((m.group(2) or "0").ljust(3, "0"))
    at = datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]), int(d[12:14]), ms * 1000)
    if not 2000 <= at.year <= 2100:
        raise ValueError("time out of range")
    return at.replace(tzinfo=tz)


def device_id(header: str | None) -> str | None:
    """The ``User-Identify`` header when it is a 20-digit device id, else None."""
    value = (header or "").strip()
    return value if _DEVICE_ID.match(value) else None


def status(url: str, code: int, text: str, at: datetime, tz: tzinfo, ident: str = "") -> dict:
    return {"RequestURL": url, "StatusCode": code, "StatusString": text, "Id": ident,
            "LocalTime": local_time(at, tz)}


def response(url: str, code: int, text: str, at: datetime, tz: tzinfo, ident: str = "") -> dict:
    return {"ResponseStatusObject": status(url, code, text, at, tz, ident)}


def response_list(statuses: list[dict]) -> dict:
    return {"ResponseStatusListObject": {"ResponseStatusObject": statuses}}


def decode(body: bytes) -> Any:
    """JSON (UTF-8, or GB18030 from older devices) → Python; ``BadBody`` (status 7) if it is not JSON."""
    if not body.strip():
        raise BadBody("empty body", INVALID_JSON_FORMAT)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return orjson.loads(body.decode("gb18030"))
    except (UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise BadBody("not JSON", INVALID_JSON_FORMAT) from exc


def field(obj: dict, name: str) -> Any:
    """``obj[name]`` with the key in any letter case (``PlateNo``, ``plateNo``, ``PLATENO``)."""
    if name in obj:
        return obj[name]
    low = name.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


def objects(body: Any, list_key: str, item_key: str) -> list[Any]:
    """The items of ``{list_key: {item_key: [...]}}``; also the list object sent bare (``{item_key: …}``),
    one item instead of a list, or a plain list. ``BadBody`` if none of these."""
    items: Any = None
    if isinstance(body, list):
        items = body
    elif isinstance(body, dict):
        inner = field(body, list_key)
        items = field(inner if isinstance(inner, dict) else body, item_key)
        if items is None and isinstance(inner, list):
            items = inner
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise BadBody(f"expected {{{list_key!r}: {{{item_key!r}: [...]}}}}")
    if not items:
        raise BadBody(f"{item_key}: no objects")
    if len(items) > MAX_OBJECTS:
        raise BadBody(f"{item_key}: more than {MAX_OBJECTS} objects in one request")
    return items


def single(body: Any, key: str) -> dict:
    """The object of ``{key: {...}}`` (or sent bare); {} when the body holds nothing usable."""
    inner = field(body, key) if isinstance(body, dict) else None
    if isinstance(inner, dict):
        return inner
    return body if isinstance(body, dict) else {}


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)
