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
