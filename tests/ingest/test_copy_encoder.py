"""The binary COPY encoder without a database: its bytes, read back by a plain ``struct`` decoder of
PostgreSQL's binary COPY format, give back every fix (the database round trip is in test_writer.py)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.fix import Fix
from app.ingest.writer.copy_encoder import (
    COLUMNS,
    COPY_HEADER,
    COPY_TRAILER,
    copy_binary,
    copy_rows,
    unique_fixes,
)

T = datetime(2026, 1, 26, 8, 0, 0, 123457, tzinfo=UTC)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def decode(data: bytes) -> list[tuple]:
    """(tid, time, lon, lat, speed, course, accuracy, source) per row; checks framing and EWKB head."""
    assert data.startswith(COPY_HEADER) and data.endswith(COPY_TRAILER)
    pos, end, rows = len(COPY_HEADER), len(data) - len(COPY_TRAILER), []
    while pos < end:
        (n,), pos = struct.unpack_from(">h", data, pos), pos + 2
        assert n == len(COLUMNS)
        fields = []
        for _ in range(n):
            (size,), pos = struct.unpack_from(">i", data, pos), pos + 4
            fields.append(None if size == -1 else data[pos:pos + size])
            pos += max(size, 0)
        tid = struct.unpack(">i", fields[0])[0]
        when = PG_EPOCH + timedelta(microseconds=struct.unpack(">q", fields[1])[0])
        order, kind, srid, x, y = struct.unpack("<BIIdd", fields[2])
        assert (order, kind, srid) == (1, 0x20000001, 4326)
        optional = [None if f is None else struct.unpack(">d", f)[0] for f in fields[3:6]]
        rows.append((tid, when, x, y, *optional, fields[6].decode()))
    assert pos == end
    return rows


def expected(fixes: list[Fix], tids: list[int]) -> list[tuple]:
    return [(tid, f.fix_time, f.lon, f.lat, f.speed_kmh, f.course_deg, f.accuracy_m, f.protocol)
            for tid, f in zip(tids, fixes, strict=True)]


def test_mixed_kinds_round_trip():
    """Rows of several NULL patterns and protocols (one record array each) all come back."""
    fixes = [Fix("a", "jt808", T, 116.3, 39.9, 36.5, 270.0, None),
             Fix("b", "osmand", T + timedelta(seconds=1), -73.98, -40.5, None, None, 4.5),
             Fix("c", "api", T, 24.9384, 60.1699, 0.0, 359.5, 0.0),
             Fix("d", "jt808", T - timedelta(days=2), 180.0, -90.0, None, 12.0, None),
             Fix("e", "gb28181", T, 1e-9, 0.0, 1500.0, None, 1e6)]
    tids = [11, 12, 13, 14, 15]
    assert sorted(decode(copy_binary(fixes, tids))) == expected(fixes, tids)


@pytest.mark.parametrize("nulls", [(False, False, False), (False, False, True), (True, True, True),
                                   (True, False, True)])
def test_one_kind_round_trips_in_order(nulls):
    """The usual batch (one protocol, each optional column NULL everywhere or nowhere) keeps its order."""
    fixes = [Fix(f"k{i}", "jt808", T + timedelta(seconds=i % 7), 116.3 + i / 1e4, 39.9 - i / 1e4,
                 None if nulls[0] else i / 3, None if nulls[1] else float(i % 360), None if nulls[2] else 2.5)
             for i in range(40)]
    tids = list(range(100, 140))
    assert decode(copy_binary(fixes, tids)) == expected(fixes, tids)


def test_rows_join_into_one_copy():
    """The flush joins producers' rows between one header and trailer: the same as encoding them at once."""
    a = [Fix("a", "api", T, 1.0, 2.0, 3.0, None, None)]
    b = [Fix("b", "osmand", T, 4.0, 5.0, None, 6.0, 7.0), Fix("c", "osmand", T, 8.0, 9.0, None, 1.0, 2.0)]
    joined = COPY_HEADER + copy_rows(a, [1]) + copy_rows(b, [2, 3], [f.fix_time for f in b]) + COPY_TRAILER
    assert joined == copy_binary(a + b, [1, 2, 3])
    assert copy_binary([], []) == COPY_HEADER + COPY_TRAILER


def test_unique_keeps_the_first_fix_per_target_and_time():
    first, again, other = (Fix("a", "api", T, 1.0, 1.0), Fix("a", "api", T, 2.0, 2.0),
                           Fix("a", "osmand", T, 3.0, 3.0))
    fixes = [first, other]
    assert unique_fixes(fixes) is fixes  # nothing to drop: the same list, no copy
    assert unique_fixes([first, other, again]) == [first, other]
