"""OsmAnd / Traccar Client decoding and fix validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.fix import Fix, FixRejected, validate_fix
from app.ingest import osmand

NOW = datetime(2026, 1, 26, 12, 0, tzinfo=UTC)


def test_query_string_speed_in_knots_and_epoch_seconds():
    fix = osmand.decode_params(
        {
            "id": "123456",
            "lat": "39.99",
            "lon": "116.33",
            "timestamp": "1769428800",
            "speed": "10",
            "bearing": "90.5",
            "altitude": "50",
            "accuracy": "0",
            "batt": "77",
            "hdop": "1.2",
            "driver": "x",
        }
    )
    assert fix.device_id == "123456" and fix.protocol == "osmand"
    assert fix.fix_time == datetime(2026, 1, 26, 12, 0, tzinfo=UTC)
    assert fix.speed_kmh == pytest.approx(18.52)
    assert fix.course_deg == 90.5 and fix.altitude_m == 50
    assert fix.accuracy_m is None  # 0 means unknown
    assert fix.battery_pct == 77
    assert fix.attributes == {"hdop": "1.2", "driver": "x"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1769428800000", datetime(2026, 1, 26, 12, 0, tzinfo=UTC)),  # ≥ 2^31: milliseconds
        ("2026-01-26T12:00:00Z", datetime(2026, 1, 26, 12, 0, tzinfo=UTC)),
        ("2026-01-26T20:00:00+08:00", datetime(2026, 1, 26, 12, 0, tzinfo=UTC)),
        ("2026-01-26 12:00:00", datetime(2026, 1, 26, 12, 0, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(raw, expected):
    assert osmand.parse_timestamp(raw) == expected


def test_location_parameter_and_deviceid():
    fix = osmand.decode_params({"deviceid": "a1", "location": "22.3,114.17", "timestamp": "1769428800"})
    assert (fix.lat, fix.lon) == (22.3, 114.17)


def test_form_body_and_json_flat_and_traccar_client_json():
    form = osmand.decode_request(
        {}, b"id=7&lat=1.5&lon=2.5&timestamp=1769428800&alarm=sos", "application/x-www-form-urlencoded"
    )
    assert form.device_id == "7" and form.sos and "sos" in form.alarms
    flat = osmand.decode_request(
        {}, json.dumps({"id": "8", "lat": 1, "lon": 2}).encode(), "application/json", now=NOW
    )
    assert flat.fix_time == NOW and flat.lon == 2
    body = {
        "device_id": "phone-9",
        "location": {
            "timestamp": "2026-01-26T11:59:58.120Z",
            "is_moving": True,
            "event": "motionchange",
            "coords": {
                "latitude": 53.4,
                "longitude": -2.9,
                "speed": 10,
                "heading": -1,
                "accuracy": 5,
                "altitude": 30,
            },
            "battery": {"level": 0.55, "is_charging": False},
        },
    }
    fix = osmand.decode_request({}, json.dumps(body).encode(), "application/json; charset=utf-8")
    assert fix.device_id == "phone-9" and fix.speed_kmh == pytest.approx(36.0)
    assert fix.course_deg is None and fix.accuracy_m == 5 and fix.battery_pct == pytest.approx(55)
    assert fix.fix_time == datetime(2026, 1, 26, 11, 59, 58, 120000, tzinfo=UTC)
    assert fix.attributes["is_moving"] is True


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"lat": "1", "lon": "2"}, "missing_id"),
        ({"id": "1"}, "missing_position"),
        ({"id": "1", "lat": "north", "lon": "2"}, "wrong_type"),
        ({"id": "1", "lat": "nan", "lon": "2"}, "not_finite"),
        ({"id": "1", "lat": "1", "lon": "2", "timestamp": "yesterday"}, "bad_timestamp"),
        ({"id": "1", "location": "1;2"}, "wrong_type"),
    ],
)
def test_decode_rejects_with_reason(params, reason):
    with pytest.raises(FixRejected) as err:
        osmand.decode_params(params)
    assert err.value.reason == reason


def test_bad_json_and_non_object():
    for body in (b"{not json", b"[1, 2]"):
        with pytest.raises(FixRejected):
            osmand.decode_request({}, body, "application/json")


def _fix(**kw) -> Fix:
    base = {"device_id": "d", "protocol": "osmand", "fix_time": NOW, "lon": 116.3, "lat": 39.9}
    return Fix(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"lat": 91.0}, "coordinates_out_of_range"),
        ({"lon": -180.5}, "coordinates_out_of_range"),
        ({"fix_time": NOW + timedelta(minutes=6)}, "time_in_future"),
        ({"fix_time": NOW - timedelta(days=365 * 20)}, "time_too_old"),
        ({"fix_time": datetime(2026, 1, 26)}, "wrong_type"),
        ({"lat": "39.9"}, "wrong_type"),
        ({"speed_kmh": -3.0}, "speed_out_of_range"),
        ({"course_deg": 400.0}, "course_out_of_range"),
        ({"device_id": " "}, "missing_id"),
    ],
)
def test_validation_reasons(kw, reason):
    with pytest.raises(FixRejected) as err:
        validate_fix(_fix(**kw), NOW)
    assert err.value.reason == reason and err.value.message


def test_validation_accepts_small_clock_skew():
    assert validate_fix(_fix(fix_time=NOW + timedelta(minutes=4)), NOW)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "deviceid",
                "lat",
                "lon",
                "location",
                "timestamp",
                "speed",
                "bearing",
                "accuracy",
                "batt",
                "alarm",
                "x",
            ]
        ),
        st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none()),
    )
)
def test_random_params_only_raise_fix_rejected(params):
    try:
        fix = osmand.decode_params(params)
    except FixRejected:
        return
    try:
        validate_fix(fix)
    except FixRejected:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=200), st.sampled_from(["application/json", "", "application/x-www-form-urlencoded"])
)
def test_random_bodies_only_raise_fix_rejected(body, ctype):
    try:
        osmand.decode_request({}, body, ctype)
    except FixRejected:
        pass


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
TRACCAR_KEYS = st.sampled_from(
    [
        "device_id",
        "id",
        "location",
        "coords",
        "latitude",
        "longitude",
        "timestamp",
        "speed",
        "heading",
        "accuracy",
        "battery",
        "level",
        "event",
        "lat",
        "lon",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.recursive(JSON, lambda c: st.dictionaries(TRACCAR_KEYS, c, max_size=6), max_leaves=30))
def test_random_json_documents_only_raise_fix_rejected(doc):
    try:
        osmand.decode_request({}, json.dumps(doc).encode(), "application/json")
    except FixRejected:
        pass
