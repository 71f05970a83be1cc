"""Recordings as a device lists them: merged, gaps found, retention proven (not declared)."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from app.domain.recordings import Segment, clip, gaps, merge, retention

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def seg(a_h: float, b_h: float) -> Segment:
    return Segment(T0 + timedelta(hours=a_h), T0 + timedelta(hours=b_h))


def test_file_boundaries_are_one_recording_and_real_holes_are_gaps():
    files = [seg(0, 1), Segment(T0 + timedelta(hours=1, seconds=2), T0 + timedelta(hours=2)), seg(3, 4), seg(3.5, 3.6)]
    assert merge(files) == [seg(0, 2), seg(3, 4)]
    assert gaps(files, T0, T0 + timedelta(hours=5)) == [seg(2, 3), seg(4, 5)]
    assert clip(files, T0 + timedelta(hours=1), T0 + timedelta(hours=3.5)) == [seg(1, 2), seg(3, 3.5)]


def test_retention_is_the_age_of_the_oldest_recording_held():
    now = T0 + timedelta(days=40)
    r = retention([seg(0, 24 * 40)], now, required_days=30)
    assert round(r.days) == 40 and r.complies(30) and not r.complies(90)
    assert r.gap_s == 0 and r.recorded_s == 30 * 86400
    holed = retention([seg(0, 24), seg(48, 24 * 40)], now, required_days=90)
    assert holed.gap_s == 24 * 3600 and round(holed.days) == 40
    nothing = retention([], now, 30)
    assert nothing.oldest is None and nothing.days == 0 and not nothing.complies(30)


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 10)), max_size=30))
def test_recorded_and_gaps_add_up_to_the_window(spans):
    segs = [seg(a, a + d) for a, d in spans]
    start, end = T0, T0 + timedelta(hours=120)
    inside = clip(segs, start, end)
    holes = gaps(segs, start, end, min_s=0)
    total = sum(s.seconds for s in inside) + sum(g.seconds for g in holes)
    assert abs(total - 120 * 3600) < 1e-3
    assert all(a.end <= b.start for a, b in pairwise(inside))

