"""PTZCmd for presets and cruises (GB/T 28181 Annex A.3.3): bytes worked out by hand, one row each; the
answers to PresetQuery and PTZPosition as devices shape them."""

from __future__ import annotations

import pytest

from app.ingest.gb28181 import manscdp
from app.ingest.gb28181.channel_control import ChannelCommandFailed, Preset, parse_position, parse_presets
from app.ingest.gb28181.ptz import cruise_cmd, front_end_cmd, preset_cmd, ptz_cmd

pytestmark = pytest.mark.ingest

# A5 0F 01 | instruction | data1 (cruise) | data2 (preset) | data3 << 4 | sum of the seven bytes mod 256
ROWS = [
    (preset_cmd, "set", 3, "A50F018100030039"),  # 0xA5+0x0F+0x01+0x81+0x03 = 0x139
    (preset_cmd, "call", 1, "A50F018200010038"),
    (preset_cmd, "delete", 255, "A50F018300FF0037"),  # 0x237 → 0x37
    (cruise_cmd, "start", 2, "A50F01880200003F"),  # the cruise number in data1
    (cruise_cmd, "stop", 7, "A50F0100000000B5"),  # stop = the move stop
]


@pytest.mark.parametrize(("build", "action", "number", "expected"), ROWS)
def test_front_end_commands(build, action, number, expected):
    assert build(action, number) == expected


def test_stop_is_the_ptz_stop_and_data3_goes_to_the_high_nibble():
    assert cruise_cmd("stop", 1) == ptz_cmd("stop", 1)
    assert front_end_cmd(0x86, 1, 2, 0xA) == "A50F01860102A0DE"  # 0x1DE


@pytest.mark.parametrize(("build", "action", "number"), [
    (preset_cmd, "set", 0), (preset_cmd, "set", 256), (preset_cmd, "goto", 1), (cruise_cmd, "start", 0),
    (cruise_cmd, "pause", 1),
])
def test_out_of_range_is_refused(build, action, number):
    with pytest.raises(ValueError):
        build(action, number)


def _doc(xml: str):
    return manscdp.parse(f'<?xml version="1.0" encoding="GB2312"?>\r\n{xml}'.encode("gb18030"))


def test_preset_answers_count_by_sumnum_or_the_list_num():
    paged = _doc("<Response><CmdType>PresetQuery</CmdType><SN>7</SN><DeviceID>1</DeviceID><SumNum>5</SumNum>"
                 '<PresetList Num="2"><Item><PresetID>1</PresetID><PresetName>大门</PresetName></Item>'
                 "<Item><PresetID>300</PresetID></Item></PresetList></Response>")
    assert parse_presets(paged) == (5, [Preset(1, "大门")])  # 300 is no preset number
    bare = _doc('<Response><CmdType>PresetQuery</CmdType><SN>7</SN><DeviceID>1</DeviceID><PresetList Num="3">'
                "<Item><PresetID>2</PresetID><PresetName/></Item></PresetList></Response>")
    assert parse_presets(bare) == (3, [Preset(2, None)])


def test_ptz_position_wherever_the_device_nests_it():
    flat = _doc("<Response><CmdType>PTZPosition</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
                "<Pan>12.5</Pan><Tilt>-3</Tilt><Zoom>2</Zoom></Response>")
    nested = _doc("<Response><CmdType>PTZPosition</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
                  "<PTZPosition><Pan>12.5</Pan><Tilt>-3</Tilt></PTZPosition></Response>")
    assert parse_position(flat) == {"pan": 12.5, "tilt": -3.0, "zoom": 2.0}
    assert parse_position(nested) == {"pan": 12.5, "tilt": -3.0}
    with pytest.raises(ChannelCommandFailed):
        parse_position(_doc("<Response><CmdType>PTZPosition</CmdType><SN>1</SN><DeviceID>1</DeviceID></Response>"))
