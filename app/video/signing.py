"""Signed, expiring play URLs: HMAC-SHA256 over (camera, user, expiry) with the server's secret."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from app.domain.errors import Forbidden


def _mac(secret: str, camera_id: int, user_id: int, expires: int) -> str:
    msg = f"play:{camera_id}:{user_id}:{expires}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


def play_url(secret: str, camera_id: int, user_id: int, minutes: int, now: float | None = None) -> tuple[str, int]:
    expires = int((now or time.time()) + minutes * 60)
    query = urlencode({"uid": user_id, "exp": expires, "sig": _mac(secret, camera_id, user_id, expires)})
    return f"/video/play/{camera_id}?{query}", expires


def verify(secret: str, camera_id: int, user_id: int, expires: int, sig: str, now: float | None = None) -> None:
    if not hmac.compare_digest(_mac(secret, camera_id, user_id, expires).encode(), (sig or "").encode()):
        raise Forbidden("invalid play URL signature")
    if (now or time.time()) > expires:
        raise Forbidden("play URL expired; call the camera up again")
