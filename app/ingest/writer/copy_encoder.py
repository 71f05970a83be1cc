"""Binary ``COPY position FROM STDIN`` data for fixes: pure (bytes out, no database), so it is
unit-tested on its own (``tests/test_copy_encoder.py``) and run by producers outside the flush.

Rows are built with numpy record arrays, one per NULL pattern and protocol, instead of a Python tuple and
codec calls per row: points as EWKB (what ``geometry``'s binary input takes), times as microseconds
since 2000-01-01 UTC.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta

import numpy as np

from app.domain.fix import Fix

COLUMNS = ("target_id", "fix_time", "location", "speed_kmh", "course_deg", "accuracy_m", "source")


KEY = operator.attrgetter("protocol", "device_id")
TIME = operator.attrgetter("fix_time")
_ROW_KEY = operator.attrgetter("protocol", "device_id", "fix_time")


def unique_fixes(fixes: list[Fix]) -> list[Fix]:
    """First fix per (target, time): the primary key, so a batch never collides with itself."""
    keys = list(map(_ROW_KEY, fixes))
    if len(set(keys)) == len(keys):
        return fixes  # the usual case, decided in one pass
    seen: set[tuple[str, str, datetime]] = set()
    out = []
    for f, k in zip(fixes, keys, strict=True):
        if k not in seen:
            seen.add(k)
            out.append(f)
    return out


# A point as EWKB: little-endian, type Point with the SRID flag, SRID 4326, x, y (25 bytes).
_EWKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])


def ewkb_points(lons: np.ndarray, lats: np.ndarray) -> list[bytes]:
    """EWKB of SRID-4326 points, built as one numpy buffer (no GEOS geometry per point)."""
    n = len(lons)
    arr = np.empty(n, _EWKB_POINT)
    arr["order"], arr["type"], arr["srid"], arr["x"], arr["y"] = 1, 0x20000001, 4326, lons, lats
    buf, size = arr.tobytes(), _EWKB_POINT.itemsize
    return [buf[i:i + size] for i in range(0, n * size, size)]


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags 0, no header extension
COPY_TRAILER = b"\xff\xff"
_OPTIONAL = ("speed_kmh", "course_deg", "accuracy_m")  # float8 columns that may be NULL
_VALUES = (operator.attrgetter("speed_kmh"), operator.attrgetter("course_deg"), operator.attrgetter("accuracy_m"))
_PROTOCOL, _LON, _LAT = operator.attrgetter("protocol"), operator.attrgetter("lon"), operator.attrgetter("lat")
_ROW_TYPES: dict[tuple[int, bytes], np.dtype] = {}
_ROW_TEMPLATES: dict[tuple[int, bytes], np.void] = {}


def _row_type(nulls: int, source: bytes) -> np.dtype:
    """The binary COPY layout of a row with these NULL columns (bit i: ``_OPTIONAL[i]``) and this source:
    fixed size, so rows of one kind are one numpy record array."""
    key = (nulls, source)
    dtype = _ROW_TYPES.get(key)
    if dtype is None:
        fields = [("n", ">i2"), ("l_tid", ">i4"), ("tid", ">i4"), ("l_time", ">i4"), ("time", ">i8"),
                  ("l_geom", ">i4"), ("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
        for i, name in enumerate(_OPTIONAL):
            fields.append((f"l_{name}", ">i4"))
            if not nulls >> i & 1:
                fields.append((name, ">f8"))
        fields += [("l_source", ">i4"), ("source", f"S{len(source)}")] if source else [("l_source", ">i4")]
        dtype = _ROW_TYPES[key] = np.dtype(fields)
        row = np.zeros(1, dtype)  # a row with every constant field filled in: copied to all rows at once
        row["n"], row["l_tid"], row["l_time"], row["l_geom"] = len(COLUMNS), 4, 8, 25
        row["order"], row["type"], row["srid"] = 1, 0x20000001, 4326
        for i, name in enumerate(_OPTIONAL):
            row[f"l_{name}"] = -1 if nulls >> i & 1 else 8
        row["l_source"] = len(source)
        if source:
            row["source"] = source
        _ROW_TEMPLATES[key] = row[0]
    return dtype


def copy_binary(fixes: list[Fix], tids: list[int]) -> bytes:
    """``COPY position (COLUMNS) FROM STDIN (FORMAT binary)`` data for these fixes."""
    return COPY_HEADER + copy_rows(fixes, tids) + COPY_TRAILER


def copy_rows(fixes: list[Fix], tids: list[int], times: list[datetime] | None = None) -> bytes:
    """The rows of binary COPY data, built as numpy record arrays (one per NULL pattern and protocol)
    instead of a Python tuple and codec calls per row. The point is EWKB (what ``geometry``'s binary
    input takes), the time microseconds since 2000-01-01 UTC (each distinct time computed once: fixes of
    a batch share their times). ``times``: the fixes' times, when the caller has them already."""
    if times is None:
        times = list(map(TIME, fixes))
    micros = {t: (t - _PG_EPOCH) // _MICROSECOND for t in set(times)}
    speeds, courses, accuracies = (list(map(g, fixes)) for g in _VALUES)
    protocols = list(map(_PROTOCOL, fixes))
    kinds: dict[tuple[int, str], list[int]] = {}
    n = len(fixes)
    nones = [column.count(None) for column in (speeds, courses, accuracies)]
    if n and all(c in (0, n) for c in nones) and len(set(protocols)) == 1:
        # The usual case: one kind (each column NULL everywhere or nowhere), every row, no list of indexes.
        kinds[((nones[0] == n) | (nones[1] == n) << 1 | (nones[2] == n) << 2, protocols[0])] = []
    else:
        for i, (s, c, a, p) in enumerate(zip(speeds, courses, accuracies, protocols, strict=True)):
            nulls = (s is None) | (c is None) << 1 | (a is None) << 2
            kind = kinds.get((nulls, p))
            if kind is None:
                kinds[(nulls, p)] = [i]
            else:
                kind.append(i)
    columns = (speeds, courses, accuracies)
    parts = []
    for (nulls, protocol), rows in kinds.items():
        whole = not rows
        pick = (lambda col: col) if whole else (lambda col, rows=rows: [col[i] for i in rows])
        group = fixes if whole else pick(fixes)
        k = len(group)
        source = protocol.encode()
        dtype = _row_type(nulls, source)
        arr = np.empty(k, dtype)
        arr[...] = _ROW_TEMPLATES[(nulls, source)]  # the constant fields (lengths, EWKB head, source) at once
        arr["tid"] = np.fromiter(pick(tids), np.int32, k)
        arr["time"] = np.fromiter(map(micros.__getitem__, pick(times)), np.int64, k)
        arr["x"] = np.fromiter(map(_LON, group), float, k)
        arr["y"] = np.fromiter(map(_LAT, group), float, k)
        for i, name in enumerate(_OPTIONAL):
            if not nulls >> i & 1:
                arr[name] = np.fromiter(pick(columns[i]), float, k)
        parts.append(arr.tobytes())
    return b"".join(parts)


async def chunks(data: bytes, size: int = 1 << 20):
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield view[i:i + size]
