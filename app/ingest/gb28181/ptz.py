"""PTZ commands as GB/T 28181 ``PTZCmd`` (annex A: the 8-byte front-end device control code, 16 hex digits).

Byte 1 is A5; byte 2 the combination code (version 0 + nibble checksum: 0F as WVP and devices use); byte 3 the
address (01); byte 4 the command (bit0 right, bit1 left, bit2 down, bit3 up, bit4 zoom in, bit5 zoom out; 0 stops);
bytes 5 and 6 the pan and tilt speeds (0–255); byte 7 the zoom speed in its high nibble; byte 8 the sum of bytes
1–7 modulo 256.
"""

from __future__ import annotations

COMMAND_BITS = {"right": 0x01, "left": 0x02, "down": 0x04, "up": 0x08, "zoom_in": 0x10, "zoom_out": 0x20, "stop": 0x00}


def ptz_cmd(action: str, speed: int) -> str:
    """``action`` one of COMMAND_BITS, ``speed`` 1–15 (the API's scale) → the PTZCmd hex string."""
    if action not in COMMAND_BITS:
        raise ValueError(f"no PTZ command for {action!r}")
    if not 1 <= speed <= 15:
        raise ValueError("speed must be 1–15")
    cmd = COMMAND_BITS[action]
    pan = speed * 17 if cmd & 0x03 else 0  # 15 → 255
    tilt = speed * 17 if cmd & 0x0C else 0
    zoom = speed << 4 if cmd & 0x30 else 0
    head = [0xA5, 0x0F, 0x01, cmd, pan, tilt, zoom]
    return bytes([*head, sum(head) % 256]).hex().upper()


# Annex A.3.3: the FI instructions (byte 4) that take numbers instead of speeds. Byte 5 (data1) carries the
# cruise (group) number, byte 6 (data2) the preset number, byte 7's high nibble data3 (the address's high
# nibble: 0 here); the checksum as for moves.
PRESET_CODES = {"set": 0x81, "call": 0x82, "delete": 0x83}
CRUISE_CODES = {"add_point": 0x84, "delete_point": 0x85, "speed": 0x86, "dwell": 0x87, "start": 0x88}
SCAN = 0x89


def front_end_cmd(code: int, data1: int = 0, data2: int = 0, data3: int = 0) -> str:
    """A PTZCmd with instruction ``code`` and its data bytes → the 16 hex digits."""
    if not (0 <= code <= 0xFF and 0 <= data1 <= 0xFF and 0 <= data2 <= 0xFF and 0 <= data3 <= 0x0F):
        raise ValueError("PTZCmd bytes out of range")
    head = [0xA5, 0x0F, 0x01, code, data1, data2, data3 << 4]
    return bytes([*head, sum(head) % 256]).hex().upper()


def preset_cmd(action: str, preset: int) -> str:
    """Set, call (go to) or delete preset ``preset`` (1–255)."""
    if action not in PRESET_CODES:
        raise ValueError(f"no preset command {action!r}")
    if not 1 <= preset <= 255:
        raise ValueError("preset must be 1–255")
    return front_end_cmd(PRESET_CODES[action], 0, preset)


def cruise_cmd(action: str, cruise: int) -> str:
    """Start cruise (tour) ``cruise`` (1–255); stop is the PTZ stop (all instruction bits clear)."""
    if not 1 <= cruise <= 255:
        raise ValueError("cruise must be 1–255")
    if action == "start":
        return front_end_cmd(CRUISE_CODES["start"], cruise, 0)
    if action == "stop":
        return front_end_cmd(0x00)
    raise ValueError(f"no cruise command {action!r}")
