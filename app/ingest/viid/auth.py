"""``System/Register`` digest authentication (RFC 2617, MD5, as GA/T 1400 devices do it) with stateless
nonces: a nonce is its issue time and an HMAC of it under the platform's secret, so any API process checks a
nonce another issued, and nothing is stored per challenge (a flood of unauthenticated requests costs no
memory). The digest arithmetic is GB/T 28181's (app/ingest/gb28181/digest.py). Pure."""

from __future__ import annotations

import hashlib
import hmac

from app.ingest.gb28181 import digest

NONCE_TTL_S = 300


def nonce(secret: str, now: float) -> str:
    ts = f"{int(now):x}"
    return ts + hmac.new(secret.encode(), f"viid-nonce:{ts}".encode(), hashlib.sha256).hexdigest()[:24]


def nonce_fresh(secret: str, value: str, now: float) -> bool:
    ts, mac = value[:-24], value[-24:]
    try:
        issued = int(ts, 16)
    except ValueError:
        return False
    good = hmac.compare_digest(nonce(secret, issued)[-24:], mac)
    return good and 0 <= now - issued <= NONCE_TTL_S


def challenge(realm: str, secret: str, now: float, stale: bool = False) -> str:
    """``WWW-Authenticate`` of the 401."""
    return digest.challenge(realm, nonce(secret, now), stale)


def check(header: str | None, device: str, ha1: str, method: str, secret: str, now: float) -> str:
    """``ok``, ``missing`` (challenge), ``stale`` (challenge again) or ``wrong`` (refuse)."""
    params = digest.parse_authorization(header or "")
    if not params:
        return "missing"
    if not nonce_fresh(secret, params.get("nonce", ""), now):
        return "stale"
    if params.get("username") != device or not digest.verify(params, None, method, ha1=ha1):
        return "wrong"
    return "ok"
