"""Signed, expiring play URLs: HMAC-SHA256 over (camera, user, token version, expiry) with the server's
secret; and sealed relay references (AES-GCM), which name an origin resource without revealing it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from urllib.parse import urlencode

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.domain.errors import Forbidden


def _mac(secret: str, camera_id: int, user_id: int, expires: int, version: int) -> str:
    msg = f"play:{camera_id}:{user_id}:{version}:{expires}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()[:32]


def play_url(secret: str, camera_id: int, user_id: int, minutes: int, now: float | None = None,
             version: int = 0) -> tuple[str, int]:
    """``version``: the user's token version, so a logout (which bumps it) voids the URLs issued before."""
    expires = int((now or time.time()) + minutes * 60)
    query = urlencode({"uid": user_id, "ver": version, "exp": expires,
                       "sig": _mac(secret, camera_id, user_id, expires, version)})
    return f"/video/play/{camera_id}?{query}", expires


def verify(secret: str, camera_id: int, user_id: int, expires: int, sig: str, now: float | None = None,
           version: int = 0) -> None:
    if not hmac.compare_digest(_mac(secret, camera_id, user_id, expires, version).encode(), (sig or "").encode()):
        raise Forbidden("invalid play URL signature")
    if (now or time.time()) > expires:
        raise Forbidden("play URL expired; call the camera up again")


def _key(secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"relay-ref:" + secret.encode()).digest())


def seal(secret: str, camera_id: int, ref: dict) -> str:
    """An opaque, tamper-proof token for ``ref`` (an origin URL with the viewer it was issued to): the
    browser sees only this, never the camera's or media server's address, path or query."""
    nonce = os.urandom(12)
    blob = nonce + _key(secret).encrypt(nonce, orjson.dumps(ref), f"camera:{camera_id}".encode())
    return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()


def unseal(secret: str, camera_id: int, token: str) -> dict:
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ref = orjson.loads(_key(secret).decrypt(blob[:12], blob[12:], f"camera:{camera_id}".encode()))
    except (ValueError, InvalidTag, orjson.JSONDecodeError) as exc:
        raise Forbidden("invalid relay reference") from exc
    if not isinstance(ref, dict):
        raise Forbidden("invalid relay reference")
    return ref
