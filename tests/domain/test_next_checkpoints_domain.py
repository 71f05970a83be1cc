"""Next checkpoints after a watchlist hit (app/domain/next_checkpoints.py): reachable ones only, within the
bound, observed transitions first, then by driving time; the hit's own checkpoint never."""

from __future__ import annotations

from app.domain.next_checkpoints import MAX_ETA_S, Candidate, Unit, interceptors, rank


def c(tid: str, eta: float | None, seen: int = 0) -> Candidate:
    return Candidate(tid, tid, 24.9, 60.1, eta, seen)


def ids(xs: list[Candidate]) -> list[str]:
    return [x.tollgate_id for x in xs]


def test_reachable_within_the_bound_by_driving_time():
    got = rank("A", [c("far", MAX_ETA_S + 1), c("B", 300), c("none", None), c("C", 120), c("A", 0)])
    assert ids(got) == ["C", "B"]


def test_observed_transitions_come_first_then_time():
    got = rank("A", [c("B", 60), c("C", 400, seen=2), c("D", 500, seen=5), c("E", 90)], count=3)
    assert ids(got) == ["D", "C", "B"]


def test_count_and_ties():
    assert ids(rank(None, [c("Y", 60), c("X", 60), c("Z", 10)], count=2)) == ["Z", "X"]
    assert rank("A", []) == []


def test_interceptors_arrive_before_the_vehicle():
    units = [Unit(1, "p1", 50), Unit(2, "p2", 20), Unit(3, "p3", None), Unit(4, "p4", 95), Unit(5, "p5", 40)]
    assert [u.unit_id for u in interceptors(100, 0, units)] == [2, 5, 1]
    assert [u.unit_id for u in interceptors(100, 55, units)] == [2, 5]  # the vehicle left 55 s ago
    assert interceptors(100, 500, units) == []  # an old alarm: nobody gets there first
    assert [u.unit_id for u in interceptors(100, -5, units, count=5)] == [2, 5, 1, 4]  # clock skew: no head start
