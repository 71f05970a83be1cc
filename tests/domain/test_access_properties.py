"""Property-based tests of the grant logic (pure)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.domain import division_code
from app.domain.access import ROLES, GrantScope, Perm, Principal

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
counties = st.sampled_from(["110101", "110108", "310104", "440305", "810001"])
codes = st.one_of(
    st.just("000000"), st.sampled_from(["110000", "310000", "440000", "810000"]),
    st.sampled_from(["110100", "310100", "440300"]), counties,
    counties.flatmap(lambda c: st.integers(1, 3).map(lambda t: f"{c}{t:03d}")),
    counties.flatmap(lambda c: st.integers(1, 3).map(lambda t: f"{c}001{t:03d}")),
)
windows = st.tuples(st.integers(-48, 48), st.integers(1, 96)).map(
    lambda a: (NOW + timedelta(hours=a[0]), NOW + timedelta(hours=a[0] + a[1])))
grants = st.builds(
    lambda role, div, win, timed, sec: GrantScope(role, div, win[0] if timed else None, win[1] if timed else None, sec),
    st.sampled_from(sorted(ROLES)), codes, windows, st.booleans(), st.integers(0, 3))


@given(st.lists(grants, max_size=6), st.sampled_from(list(Perm)), codes, st.integers(0, 3))
def test_covers_iff_some_active_grant_contains_it(gs, perm, target, secrecy):
    p = Principal(1, "u", tuple(gs))
    # Secrecy is per grant: the grant that reaches the division must itself open that secrecy level.
    expected = any(g.active(NOW) and perm in ROLES[g.role][2] and division_code.is_within(target, g.division)
                   and secrecy <= g.max_secrecy for g in gs)
    assert p.can(perm, NOW, target, secrecy) == expected


@given(st.lists(grants, max_size=6), st.sampled_from(list(Perm)))
def test_scope_prefixes_are_minimal_and_never_widen(gs, perm):
    scope = Principal(1, "u", tuple(gs)).scope_for(perm, NOW)
    for a in scope.prefixes:
        assert not any(a != b and a.startswith(b) for b in scope.prefixes)
    allowed = {division_code.subtree_prefix(g.division) for g in gs if g.active(NOW) and perm in ROLES[g.role][2]}
    assert set(scope.prefixes) <= allowed
    for r in scope.rules:  # no rule implied by another survives
        assert not any(o != r and r.prefix.startswith(o.prefix) and o.max_secrecy >= r.max_secrecy
                       for o in scope.rules)
    if scope.expires is not None:
        assert scope.expires > NOW


@given(st.lists(grants, max_size=6))
def test_expired_grants_give_nothing(gs):
    later = NOW + timedelta(days=30)
    p = Principal(1, "u", tuple(g for g in gs if g.valid_until is not None))
    assert all(p.scope_for(perm, later).empty for perm in Perm)


def test_secrecy_of_one_grant_does_not_open_another_division():
    """A secrecy-2 grant in 110101 and a secrecy-0 grant in 110108: secret cameras open only in 110101."""
    p = Principal(1, "u", (GrantScope("dispatcher", "110101", max_secrecy=2), GrantScope("dispatcher", "110108")))
    assert p.can(Perm.VIEW_LIVE, NOW, "110101001", 2)
    assert not p.can(Perm.VIEW_LIVE, NOW, "110108001", 1)
    assert p.can(Perm.VIEW_LIVE, NOW, "110108001", 0)
    scope = p.scope_for(Perm.VIEW_LIVE, NOW)
    assert scope.secrecy_at("110108") == 0 and scope.secrecy_at("110101") == 2 and scope.secrecy_at("310104") == -1
