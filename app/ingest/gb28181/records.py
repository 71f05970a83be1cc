"""RecordInfo: which recordings a channel holds between two times (GB/T 28181 Annex A.2.4.5).

The query carries ``<Secrecy>0</Secrecy>`` and ``<Type>all</Type>`` (Dahua NVRs answer nothing without
it) and the device's local wall-clock times (``settings.device_tz``). The answer comes in as many
MESSAGEs as the device likes, each with the total ``SumNum`` and a ``RecordList Num=…`` page; they are
gathered by (device, SN) until SumNum distinct items arrived (SumNum 0: no recordings).

A timeout raises: ``RecordInfoError`` when the device did not answer at all, ``RecordInfoIncomplete``
(with ``.records``, what arrived, and ``.expected``) when only part of the pages came. A returned list
is therefore always complete.

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``tz``,
``stats``, ``device_of``, ``next_sn``, ``request``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from app.ingest.gb28181 import manscdp
from app.ingest.gb28181.registry import Device


class RecordInfoError(Exception):
    """The device did not answer the query (or refused it)."""


class RecordInfoIncomplete(RecordInfoError):
    """Only part of the answer arrived before the timeout; ``records`` holds that part."""

    def __init__(self, channel_id: str, records: list[Record], expected: int) -> None:
        self.records, self.expected = records, expected
        super().__init__(f"RecordInfo {channel_id}: {len(records)} of {expected} records arrived")


@dataclass(frozen=True, slots=True)
class Record:
    device_id: str  # the channel
    name: str | None
    file_path: str | None
    address: str | None
    start: datetime | None  # UTC
    end: datetime | None
    secrecy: int
    type: str | None  # time | alarm | manual | all
    file_size: int | None  # bytes, when the device says
    recorder_id: str | None


def _int(v: str | None) -> int | None:
    try:
        return int(float(v)) if v is not None else None
    except ValueError:
        return None


def parse_records(doc: manscdp.Document, tz: ZoneInfo) -> tuple[int | None, list[Record]]:
    """(SumNum, the page's records) of one RecordInfo response."""
    out = []
    lst = doc.el.find("recordlist")
    for it in lst.findall("item") if lst is not None else []:
        t = manscdp.text
        out.append(
            Record(
                device_id=t(it, "DeviceID") or doc.device_id,
                name=t(it, "Name"),
                file_path=t(it, "FilePath"),
                address=t(it, "Address"),
                start=manscdp.local_time(t(it, "StartTime"), tz),
                end=manscdp.local_time(t(it, "EndTime"), tz),
                secrecy=_int(t(it, "Secrecy")) or 0,
                type=t(it, "Type"),
                file_size=_int(t(it, "FileSize")),
                recorder_id=t(it, "RecorderID"),
            )
        )
    return _int(manscdp.text(doc.el, "SumNum")), out


@dataclass(eq=False)
class _Query:
    channel_id: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int | None = None
    # A page sent twice (a device retrying with a new transaction) must not count twice.
    items: dict[tuple, Record] = field(default_factory=dict)


class Records:
    async def record_info(
        self,
        channel_id: str,
        start: datetime,
        end: datetime,
        *,
        timeout_s: float | None = None,
        record_type: str = "all",
    ) -> list[Record]:
        """All recordings of ``channel_id`` overlapping [start, end] (aware datetimes), sorted by start.
        Waits up to ``timeout_s`` (default ``catalog_timeout_s``) for every page."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            raise ValueError("end must be after start")
        dev: Device | None = self.device_of(channel_id)
        if dev is None or not dev.online:
            raise RecordInfoError(f"RecordInfo {channel_id}: no online device carries this channel")
        fmt = "%Y-%m-%dT%H:%M:%S"
        sn = self.next_sn()
        body = manscdp.build(
            "Query",
            "RecordInfo",
            sn,
            channel_id,
            {
                "StartTime": start.astimezone(self.tz).strftime(fmt),
                "EndTime": end.astimezone(self.tz).strftime(fmt),
                "Secrecy": "0",
                "Type": record_type,
            },
        )
        key = (dev.device_id, sn)
        query = self._record_queries[key] = _Query(channel_id)  # pages may beat the MESSAGE's 200
        deadline = self.now() + (timeout_s if timeout_s is not None else self.settings.catalog_timeout_s)
        try:
            resp = await self.request(dev, "MESSAGE", body)
            if resp is not None and resp.status != 200:
                raise RecordInfoError(f"RecordInfo {channel_id}: {resp.status} {resp.reason}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(query.done.wait(), max(0.0, deadline - self.now()))
        finally:
            self._record_queries.pop(key, None)
        records = sorted(query.items.values(), key=lambda r: (r.start is None, r.start or 0, r.file_path or ""))
        if query.done.is_set():
            self.stats["record_info_ok"] += 1
            return records
        self.stats["record_info_timeout"] += 1
        if query.expected is None:
            raise RecordInfoError(f"RecordInfo {channel_id}: no answer from the device")
        raise RecordInfoIncomplete(channel_id, records, query.expected)

    def _on_record_info(self, dev: Device, doc: manscdp.Document) -> None:
        query = self._record_queries.get((dev.device_id, doc.sn))
        if query is None:
            self.warn("record_info_unasked", "RecordInfo from %s for SN %s nobody waits for", dev.device_id, doc.sn)
            return
        sum_num, records = parse_records(doc, self.tz)
        for r in records:
            query.items[(r.device_id, r.start, r.end, r.file_path, r.type)] = r
        if query.expected is None:
            # No SumNum at all: a device that sends one page; take it as the whole answer.
            query.expected = sum_num if sum_num is not None else len(query.items)
        if len(query.items) >= query.expected:
            query.done.set()
