"""HTTP digest authentication as GB/T 28181 uses it for REGISTER (RFC 2617, MD5): pure functions.

Both RFC 2069 responses (no qop) and ``qop=auth`` responses are accepted, as WVP and real cameras do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_PARAM = re.compile(r'([A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def md5_hex(s: str) -> str:
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def new_nonce() -> str:
    return secrets.token_hex(16)


def challenge(realm: str, nonce: str, stale: bool = False) -> str:
    """``WWW-Authenticate`` value of a 401."""
    value = f'Digest realm="{realm}", qop="auth", nonce="{nonce}", algorithm=MD5'
    return value + (", stale=TRUE" if stale else "")


def parse_authorization(value: str) -> dict[str, str]:
    """Parameters of an ``Authorization: Digest …`` header (lower-case keys); {} if not Digest."""
    scheme, _, rest = (value or "").strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }


def expected_response(params: dict[str, str], password: str | None, method: str, ha1: str | None = None) -> str:
    """With ``ha1`` (MD5(username:realm:password), what the platform stores) no password is needed."""
    if ha1 is None:
        ha1 = md5_hex(f"{params.get('username', '')}:{params.get('realm', '')}:{password}")
    ha2 = md5_hex(f"{method}:{params.get('uri', '')}")
    if params.get("qop", "").lower() == "auth":
        return md5_hex(
            f"{ha1}:{params.get('nonce', '')}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}"
        )
    return md5_hex(f"{ha1}:{params.get('nonce', '')}:{ha2}")


def verify(params: dict[str, str], password: str | None, method: str, *, ha1: str | None = None) -> bool:
    """The digest response checked with the password, or with the stored HA1 (then the device must have
    used the realm the HA1 was made with: the server's domain)."""
    given = params.get("response", "").lower()
    return hmac.compare_digest(given, expected_response(params, password, method, ha1))


def authorization(
    username: str,
    realm: str,
    password: str,
    nonce: str,
    uri: str,
    method: str = "REGISTER",
    qop: bool = False,
    nc: str = "00000001",
    cnonce: str | None = None,
) -> str:
    """Client side (the test peer and the benchmark): an ``Authorization`` value."""
    p = {"username": username, "realm": realm, "nonce": nonce, "uri": uri}
    if qop:
        p |= {"qop": "auth", "nc": nc, "cnonce": cnonce or secrets.token_hex(4)}
    resp = expected_response(p, password, method)
    parts = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f'response="{resp}"',
        "algorithm=MD5",
    ]
    if qop:
        parts += [f"qop=auth, nc={nc}", f'cnonce="{p["cnonce"]}"']
    return "Digest " + ", ".join(parts)
