import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import division_code as dc
from app.domain import gb28181_id as gb
from app.domain.errors import InvalidInput


@pytest.mark.parametrize(("code", "level", "parent"), [
    ("000000", 1, None), ("110000", 2, "000000"), ("110100", 3, "110000"), ("110108", 4, "110100"),
    ("110108001", 5, "110108"), ("110108001001", 6, "110108001"), ("810001", 4, "810000"),
    ("110108000000", 4, "110100"),
])
def test_division_level_and_parent(code, level, parent):
    assert dc.level(code) == level
    assert dc.parent(code) == parent


def test_division_subtree_prefix():
    assert dc.subtree_prefix("110000") == "11"
    assert dc.subtree_prefix("110108001") == "110108001"
    assert dc.is_within("110108001001", "110108") and not dc.is_within("110109", "110108")
    assert dc.is_within("110108", "000000")


@pytest.mark.parametrize("bad", ["", "11", "1101080", "abcdef", "11010800100", None])
def test_division_rejects_malformed(bad):
    with pytest.raises(InvalidInput):
        dc.level(bad)


def test_gb_id_parse_roundtrip():
    d = gb.parse("34020000001320000001")
    assert (d.centre, d.industry, d.type_code, d.network, d.serial) == ("34020000", "00", 132, 0, 1)
    assert d.domain == "3402000000" and str(d) == "34020000001320000001"
    assert d.division == "340200"


@pytest.mark.parametrize("bad", ["3402000000132000000", "340200000013200000011", "3402000000132000000x", 123])
def test_gb_id_rejects(bad):
    with pytest.raises(InvalidInput):
        gb.parse(bad)


def test_gb_next_free_skips_used():
    used = ["11010800001320000001", "11010800001320000002", "11010800001320000004", "99999900001320000003"]
    assert gb.next_free("110108", used) == "11010800001320000003"
    assert gb.next_free("110108001001", []) == "11010800001320000001"  # village folds into its county centre
    assert gb.next_free("110108", [], type_code=131).startswith("1101080000131")


@given(st.from_regex(r"\A[0-9]{20}\Z"))
def test_gb_any_20_digits_roundtrips(value):
    assert str(gb.parse(value)) == value


@given(st.from_regex(r"\A\d{20}\Z"))
def test_gb_only_ascii_digits(value):
    """Unicode digits (e.g. Arabic-Indic) are not GB/T 28181 ids."""
    if value.isascii():
        assert str(gb.parse(value)) == value
    else:
        with pytest.raises(InvalidInput):
            gb.parse(value)
