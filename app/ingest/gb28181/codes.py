"""GB/T 28181 code tables: alarm method/type, PTZ type, optical-axis direction, channel status."""

from __future__ import annotations

ALARM_METHODS = {
    1: "电话报警",
    2: "设备报警",
    3: "短信报警",
    4: "GPS报警",
    5: "视频报警",
    6: "设备故障报警",
    7: "其他报警",
}
ALARM_METHODS_EN = {1: "phone", 2: "device", 3: "sms", 4: "gps", 5: "video", 6: "device_fault", 7: "other"}
# AlarmType depends on AlarmMethod (GB/T 28181-2016 A.2.6.4).
ALARM_TYPES = {
    2: {1: "视频丢失报警", 2: "设备防拆报警", 3: "存储设备磁盘满报警", 4: "设备高温报警", 5: "设备低温报警"},
    5: {
        1: "人工视频报警",
        2: "运动目标检测报警",
        3: "遗留物检测报警",
        4: "物体移除检测报警",
        5: "绊线检测报警",
        6: "入侵检测报警",
        7: "逆行检测报警",
        8: "徘徊检测报警",
        9: "流量统计报警",
        10: "密度检测报警",
        11: "视频异常检测报警",
        12: "快速移动报警",
    },
    6: {1: "存储设备磁盘故障报警", 2: "存储设备风扇故障报警"},
}

# PTZType → camera.kind: 球机 and its remote-controlled variants are PTZ, domes are 'dome', the rest fixed.
PTZ_KIND = {1: "ptz", 2: "dome", 3: "fixed", 4: "fixed", 5: "dome", 6: "fixed", 7: "fixed"}
# DirectionType (optical axis) → compass bearing of the view, degrees clockwise from north.
DIRECTION_DEG = {1: 90.0, 2: 270.0, 3: 180.0, 4: 0.0, 5: 135.0, 6: 45.0, 7: 225.0, 8: 315.0}
# Catalog/NOTIFY Status and Event values → camera.status ('ON'/'OFF' in the standard, 'OK'/'ONLINE' seen).
STATUS = {
    "ON": "online",
    "OK": "online",
    "ONLINE": "online",
    "OFF": "offline",
    "OFFLINE": "offline",
    "VLOST": "fault",
    "DEFECT": "fault",
}
# Device type codes (digits 11–13) that are video channels we put on the map as cameras.
CAMERA_TYPES = frozenset({121, 122, 131, 132})


def alarm_methods(raw: str | None) -> list[int]:
    """AlarmMethod may combine digits ('12' = phone + device)."""
    return [int(c) for c in (raw or "").strip() if c.isdigit() and int(c) in ALARM_METHODS]


def describe_alarm(method: int | None, alarm_type: int | None) -> tuple[str, str]:
    """(zh method label, zh type label or '')."""
    m = ALARM_METHODS.get(method or 0, "报警")
    t = ALARM_TYPES.get(method or 0, {}).get(alarm_type or 0, "")
    return m, t
