"""Every incident type a GB/T 28181 alarm can open reads as a name in zh-CN and en, never as its key."""

import pytest

from app.domain import dispatch as flow
from app.ingest.gb28181 import codes, mapping
from app.ingest.gb28181.manscdp import Alarm


@pytest.mark.parametrize("method", [None, 0, 99, *codes.ALARM_METHODS])
def test_gb_alarm_types_have_names(method):
    alarm = Alarm("34020000001320000001", 1, [] if method is None else [method], 2, None, None, 120.0, 30.0)
    kind = mapping.incident_row(alarm, "wgs84")["type"]
    zh, en = flow.incident_type_name(kind)
    assert kind not in (zh, en) and zh != en and en.isascii() and not zh.isascii()


def test_video_alarm_and_console_types():
    assert flow.incident_type_name("gb_video_alarm") == ("视频报警", "Video alarm")
    assert flow.incident_type_name("theft") == ("盗窃", "Theft")
    assert flow.incident_type_name("made_up") == ("made_up", "made_up")
    assert not set(flow.GB_ALARM_TYPES) & set(flow.INCIDENT_TYPES)  # not offered to the console
