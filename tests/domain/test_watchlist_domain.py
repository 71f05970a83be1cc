"""Watchlist matching (app/domain/watchlist.py): plate patterns, colour, validity window, area."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain import dispatch as flow
from app.domain import watchlist as wl
from app.domain.errors import InvalidInput

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def e(i: int, plate: str, area=("990101",), colour=None, start=-1, end=1) -> wl.Entry:
    return wl.Entry(i, plate, colour, tuple(area), NOW + timedelta(hours=start), NOW + timedelta(hours=end))


def p(plate: str | None, division: str | None = "990101001", colour: str | None = "A") -> wl.Pass:
    return wl.Pass("r", plate, colour, division)


@pytest.mark.parametrize(("pattern", "plate", "hit"), [
    ("京A12345", "京A12345", True), ("京A12345", "京A123456", False), ("京A1234?", "京A12345", True),
    ("京A1234?", "京A1234", False), ("京A*", "京A", True), ("*A12345", "沪A12345", True),
    ("京A1*5", "京A12345", True), ("京A1*5", "京A12346", False), ("京A.2345", "京AX2345", False),
])
def test_plate_patterns(pattern, plate, hit):
    assert bool(wl.Matcher([e(1, pattern)]).match(p(plate), NOW)) is hit


def test_plate_is_normalised_and_colour_window_area_apply():
    m = wl.Matcher([e(1, "京A12345"), e(2, "京A12345", colour="B"), e(3, "京A12345", start=-3, end=-1),
                    e(4, "京A12345", start=1, end=2), e(5, "京A12345", area=("990102",)),
                    e(6, "京A12345", area=("990100",))])
    assert [x.id for x in m.match(p("京a 12345"), NOW)] == [1, 6]
    assert [x.id for x in m.match(p("京A12345", colour="b"), NOW)] == [1, 2, 6]
    assert [x.id for x in m.plates(p("京A12345", division=None), NOW)] == [1, 5, 6]
    assert m.match(p("京A12345", division=None), NOW) == []  # filed nowhere: in no area
    assert m.match(p(None), NOW) == []
    assert [x.id for x in m.match(p("京A12345"), NOW + timedelta(hours=1, minutes=30))] == [4]


def test_checks():
    assert wl.check_plate(" 京a1234? ") == "京A1234?"
    for bad in ("京*", "??A", "京A<1>", "", "京A12345678901234567"):
        with pytest.raises(InvalidInput):
            wl.check_plate(bad)
    assert wl.check_area(["990101", "990101001", "990102"]) == ("990101", "990102")
    with pytest.raises(InvalidInput):
        wl.check_area([])
    with pytest.raises(InvalidInput):
        wl.check_window(NOW, NOW)
    with pytest.raises(InvalidInput):
        wl.check_window(NOW, NOW + timedelta(days=400))
    assert wl.check_colour(" a ") == "A" and wl.check_colour("") is None
    assert wl.in_area("990101001001", ["990101"]) and not wl.in_area("990102", ["990101"])


def test_watchlist_incident_type_is_named_and_not_offered_to_the_console():
    assert flow.incident_type_name("watchlist") == ("布控预警", "Watchlist alarm")
    assert "watchlist" not in flow.INCIDENT_TYPES
