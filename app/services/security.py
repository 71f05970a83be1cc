"""Passwords (argon2), JWT access/refresh tokens, login with lock-out, and the request principal."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.db.models import AppUser, Grant
from app.domain.access import GrantScope, Principal
from app.domain.errors import DomainError, InvalidInput

_HASHER = PasswordHasher()
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
ALGORITHM = "HS256"


class AuthError(DomainError):
    code = "unauthorized"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message  # for the audit only, never for the caller


class Locked(DomainError):
    code = "locked"


WRONG_CREDENTIALS = "wrong username or password"


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters", field="password")
    return _HASHER.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_tokens(settings: Settings, user_id: int, version: int) -> dict:
    now = datetime.now(UTC)

    def _tok(typ: str, ttl: timedelta) -> str:
        claims = {"sub": str(user_id), "ver": version, "typ": typ, "iat": now, "exp": now + ttl,
                  "jti": uuid.uuid4().hex}
        return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)

    access_ttl = timedelta(minutes=settings.access_token_minutes)
    return {
        "access_token": _tok("access", access_ttl),
        "refresh_token": _tok("refresh", timedelta(days=settings.refresh_token_days)),
        "token_type": "bearer",
        "expires_in": int(access_ttl.total_seconds()),
    }


def decode_token(settings: Settings, token: str, typ: str = "access") -> tuple[int, int]:
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[ALGORITHM])
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise AuthError("invalid token") from exc
    if claims.get("typ") != typ:
        raise AuthError(f"expected a {typ} token")
    try:
        return int(claims["sub"]), int(claims["ver"])
    except (KeyError, ValueError) as exc:
        raise AuthError("invalid token") from exc


async def login(conn: AsyncConnection, username: str, password: str) -> AppUser:
    """Check the password; count failures and lock the account after MAX_FAILURES."""
    now = datetime.now(UTC)
    row = (await conn.execute(select(AppUser).where(AppUser.username == username))).first()
    if row is None or not row.is_active:
        verify_password(_DUMMY_HASH, password)  # same work as a real check: no user enumeration by timing
        raise AuthError(WRONG_CREDENTIALS, reason="unknown or inactive user")
    if row.locked_until and row.locked_until > now:
        # Answered exactly like a wrong password, after the same work: a caller cannot learn that the
        # account exists (or is locked) from the status, the body or the time. The audit keeps the reason.
        verify_password(row.password_hash, password)
        raise AuthError(WRONG_CREDENTIALS, reason="locked")
    if not verify_password(row.password_hash, password):
        failures = row.failed_logins + 1
        values: dict = {"failed_logins": failures}
        if failures >= MAX_FAILURES:
            values = {"failed_logins": 0, "locked_until": now + LOCKOUT}
        await conn.execute(update(AppUser).where(AppUser.id == row.id).values(**values))
        await conn.commit()
        raise AuthError(WRONG_CREDENTIALS, reason="wrong password; now locked" if failures >= MAX_FAILURES
                        else "wrong password")
    if row.failed_logins or row.locked_until:
        await conn.execute(update(AppUser).where(AppUser.id == row.id).values(failed_logins=0, locked_until=None))
        await conn.commit()
    return row


_DUMMY_HASH = _HASHER.hash("dummy-password-for-timing")


async def load_principal(conn: AsyncConnection, user_id: int, version: int) -> Principal:
    user = (await conn.execute(select(AppUser.username, AppUser.is_active, AppUser.token_version)
                               .where(AppUser.id == user_id))).first()
    if user is None or not user.is_active or user.token_version != version:
        raise AuthError("token revoked")
    grants = (await conn.execute(select(Grant).where(Grant.user_id == user_id, Grant.status == "active"))).all()
    return Principal(user_id, user.username, tuple(
        GrantScope(g.role_name, g.division_code, g.valid_from, g.valid_until, g.max_secrecy) for g in grants))


async def revoke_all(conn: AsyncConnection, user_id: int) -> None:
    await conn.execute(update(AppUser).where(AppUser.id == user_id)
                       .values(token_version=AppUser.token_version + 1))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address: the socket's peer, unless that peer is a configured proxy; then the
    ``X-Forwarded-For`` hops are walked from the right (the ones our proxies appended) to the first address
    that is not a trusted proxy. A client cannot pick its address by sending the header itself."""
    if not trusted or peer is None:
        return peer
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    addr = peer
    while hops and _trusted(addr, trusted):
        hop = hops.pop()
        if _ip(hop) is None:
            break  # not an address (garbage in the header): the last proxy's own peer is what we know
        addr = hop
    return addr


def _ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(addr)
    except ValueError:
        return None


def _trusted(addr: str, trusted: tuple[Network, ...]) -> bool:
    ip = _ip(addr)
    return ip is not None and any(ip in net for net in trusted)
