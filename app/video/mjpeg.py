"""The demo's live video: a generated MJPEG stream per demo camera.

Each frame shows the camera's name, GB/T 28181 id and a running clock over a moving test pattern, so
a video wall of demo cameras visibly plays. Real cameras are played from their own stream URL.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BOUNDARY = "sharpeyesframe"
CST = timezone(timedelta(hours=8), "CST")
_FONTS = ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
          "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]


@lru_cache(maxsize=8)
def _font(size: int):
    for path in _FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def frame(name: str, gb_id: str, now: datetime, width: int = 640, height: int = 360, quality: int = 70) -> bytes:
    t = now.timestamp()
    img = Image.new("RGB", (width, height), (18, 26, 40))
    d = ImageDraw.Draw(img)
    # A slowly sweeping pattern so consecutive frames differ visibly.
    for i in range(12):
        x = int((t * 40 + i * width / 6) % (width * 2)) - width // 2
        shade = 40 + 12 * (i % 3)
        d.rectangle([x, 0, x + width // 14, height], fill=(shade, shade + 10, shade + 25))
    cx = width / 2 + math.cos(t) * width / 4
    cy = height / 2 + math.sin(t * 1.3) * height / 5
    d.ellipse([cx - 18, cy - 18, cx + 18, cy + 18], fill=(230, 120, 40))
    d.rectangle([0, 0, width, 44], fill=(0, 0, 0))
    d.text((12, 8), name[:40], font=_font(24), fill=(255, 255, 255))
    d.rectangle([0, height - 40, width, height], fill=(0, 0, 0))
    d.text((12, height - 34), gb_id, font=_font(20), fill=(170, 220, 255))
    clock = now.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")
    d.text((width - 250, height - 34), clock, font=_font(20), fill=(255, 230, 120))
    d.text((width - 90, 10), "● LIVE", font=_font(18), fill=(255, 80, 80))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


async def stream(name: str, gb_id: str, fps: float = 5.0, max_seconds: float = 3600.0) -> AsyncIterator[bytes]:
    """multipart/x-mixed-replace body; ends after ``max_seconds`` (the play URL is re-issued anyway)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + max_seconds
    while loop.time() < end:
        jpeg = await asyncio.to_thread(frame, name, gb_id, datetime.now(CST))
        yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n").encode()
        yield jpeg + b"\r\n"
        await asyncio.sleep(1.0 / fps)
