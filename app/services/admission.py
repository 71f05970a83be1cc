"""Device admission (app/domain/admission.py): the one module every protocol asks "may this device report?".

``Admission`` is the ingest side, cached per device: an admitted device is asked about once per process
(then a set look-up), an unknown one at most every ``NEGATIVE_CACHE_S`` (and counted on the pending list
then), so a device's reports never cost a database round trip each. ``GbCredentials`` is the same for
GB/T 28181 REGISTER, whose decision comes with the digest credential to check (the device's own HA1, or
the platform-wide password's for the pending list). The functions below it are the
administrator's side (policy per protocol, the pending list, accept / reject), used by
app/api/routes/admission.py; they drop the caches of this process (other processes follow within
``NEGATIVE_CACHE_S``).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain import gb_device
from app.domain.access import Scope
from app.domain.admission import (
    DEFAULT_MODE,
    PROTOCOLS,
    Decision,
    SipCredential,
    check_mode,
    decide,
    sip_credential,
)
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.ingest.batching import GroupCommit
from app.services import devices, divisions

NEGATIVE_CACHE_S = 10.0  # an unknown device is asked about at most this often
MAX_CACHED = 100_000  # bounded under a flood of invented ids
TARGET_KINDS = ("patrol_car", "officer", "body_cam", "vehicle_cam", "drone", "vehicle")

# A JT/T 808 terminal also matches a target registered with its number padded otherwise (2013 vs 2019, or
# stored stripped by earlier versions); that match is not an index look-up, but it runs once per unknown
# terminal and process (cached), never per report.
_LOOKUP = text("""
SELECT (SELECT external_id FROM target t WHERE t.protocol = k.p AND (t.external_id = k.e OR (k.p = 'jt808'
          AND t.external_id ~ '^[0-9]+$' AND ltrim(t.external_id, '0') = ltrim(k.e, '0')))
        ORDER BY t.external_id = k.e DESC LIMIT 1) AS registered,
       (SELECT mode FROM admission_policy WHERE protocol = k.p) AS mode,
       (SELECT status FROM pending_device d WHERE d.protocol = k.p AND d.external_id = k.e) AS listed
FROM unnest(CAST(:p AS text[]), CAST(:e AS text[])) WITH ORDINALITY AS k(p, e, i) ORDER BY k.i""")
_LIST = text("""
INSERT INTO pending_device (protocol, external_id, detail)
SELECT p, e, CAST(d AS jsonb) FROM unnest(CAST(:p AS text[]), CAST(:e AS text[]), CAST(:d AS text[])) AS k(p, e, d)
ON CONFLICT (protocol, external_id) DO UPDATE SET attempts = pending_device.attempts + 1, last_seen_at = now(),
  detail = CASE WHEN EXCLUDED.detail = '{}'::jsonb THEN pending_device.detail ELSE EXCLUDED.detail END""")


@dataclass(slots=True)
class _Ask:
    """One caller's question to a batched look-up; the look-up writes its answer in."""

    key: tuple[str, str]
    info: dict
    decision: Decision | None = None


class Admission:
    """The ingest side. ``token``: the deployment's device token (HTTP devices sending it are registered
    by their first report, as before)."""

    def __init__(self, engine: AsyncEngine, token: str | None = None) -> None:
        self.engine, self.token = engine, token
        self._admitted: dict[tuple[str, str], Decision] = {}
        self._refused: dict[tuple[str, str], tuple[float, Decision]] = {}
        # The devices asked about at once (a fleet reconnecting after a restart) share one look-up: one
        # query and transaction per batch, not a pool checkout and a round trip per device.
        self._lookups: GroupCommit[_Ask] = GroupCommit(self._look_up, name="admission")

    def cached(self, key: tuple[str, str]) -> Decision | None:
        hit = self._admitted.get(key)
        if hit is not None:
            return hit
        hit = self._refused.get(key)
        if hit is not None and time.monotonic() - hit[0] < NEGATIVE_CACHE_S:
            return hit[1]
        return None

    async def decide(self, key: tuple[str, str], info: dict | None = None) -> Decision:
        hit = self.cached(key)
        if hit is not None:
            return hit
        ask = _Ask(key, info or {})
        await self._lookups.add([ask]).wait()
        assert ask.decision is not None  # set by the look-up, which raised otherwise
        return ask.decision

    async def _look_up(self, asks: list[_Ask], _slot: int) -> None:
        first: dict[tuple[str, str], _Ask] = {}
        for ask in asks:
            first.setdefault(ask.key, ask)  # one row per device: the first caller's details go on the list
        keys = list(first)
        params = {"p": [k[0] for k in keys], "e": [k[1] for k in keys]}
        async with self.engine.begin() as conn:
            rows = (await conn.execute(_LOOKUP, params)).all()
            decided = {k: decide(k[0], k[1], registered=r.registered, mode=r.mode or DEFAULT_MODE, listed=r.listed)
                       for k, r in zip(keys, rows, strict=True)}
            listed = [k for k, r in zip(keys, rows, strict=True)
                      if decided[k].reason == "pending" or r.listed is not None]
            if listed:
                details = [orjson.dumps({n: v for n, v in first[k].info.items()
                                         if isinstance(v, str | int) and n != "peer"}).decode() for k in listed]
                await conn.execute(_LIST, {"p": [k[0] for k in listed], "e": [k[1] for k in listed], "d": details})
        for key, decision in decided.items():
            self._remember(key, decision)
        for ask in asks:
            ask.decision = decided[ask.key]

    def _remember(self, key: tuple[str, str], decision: Decision) -> None:
        if decision.admitted:
            if len(self._admitted) >= MAX_CACHED:
                self._admitted.clear()
            self._admitted[key] = decision
            self._refused.pop(key, None)
        else:
            if len(self._refused) >= MAX_CACHED:
                self._refused.clear()
            self._refused[key] = (time.monotonic(), decision)

    def jt808(self, phone: str, info: dict) -> Decision | Awaitable[Decision]:
        """For ``Jt808Server(admit=…)``: at once when cached, else the look-up to await."""
        key = ("jt808", phone)
        return self.cached(key) or self.decide(key, info)

    async def check(self, key: tuple[str, str], token: str | None) -> None:
        """HTTP devices: the device token, or the admission rule; raises ``DeviceRefused`` (403)."""
        if self.token and token is not None:
            if not hmac.compare_digest(token.encode(), self.token.encode()):
                raise Forbidden("wrong device token")
            return
        (await self.decide(key, {})).raise_unless_admitted()

    def forget(self, key: tuple[str, str] | None = None) -> None:
        """Drop cached decisions (all, or one device's) after an administrator's change."""
        if key is None:
            self._admitted.clear()
            self._refused.clear()
        else:
            self._admitted.pop(key, None)
            self._refused.pop(key, None)


# -- GB/T 28181: REGISTER needs the credential with the decision ------------------------------------

CREDENTIALS_TOPIC = "gb28181.credentials"  # {"gb_id": id or None (all), "op": "changed" | "deleted"}
CREDENTIAL_TTL_S = 300.0  # a cached credential is trusted this long even if a bus message was lost

_GB_LOOKUP = text("""
SELECT (SELECT ha1 FROM gb_device WHERE gb_id = :e) AS ha1,
       (SELECT mode FROM admission_policy WHERE protocol = 'gb28181') AS mode,
       (SELECT status FROM pending_device WHERE protocol = 'gb28181' AND external_id = :e) AS listed""")
_GB_FILE = text("""
INSERT INTO gb_device (gb_id, name, division_code, kind, ha1, edition, online, status_since, registered_at,
                       transport, address, created_by)
VALUES (:g, :n, (SELECT code FROM division WHERE code = ANY(CAST(:divs AS text[]))
                 ORDER BY array_position(CAST(:divs AS text[]), code::text) LIMIT 1),
        :k, :h, :ed, true, now(), now(), :t, :a, 'gb28181')
ON CONFLICT (gb_id) DO NOTHING""")


class GbCredentials:
    """``Gb28181Server.credentials``: a device's ``SipCredential`` at once when cached, else the look-up to
    await (one query per device and process, then a dict hit for every REGISTER refresh). The API publishes
    ``CREDENTIALS_TOPIC`` after an admission, change or deletion; the runtime calls ``forget`` on it, so
    the change holds from the device's next REGISTER, in every process.

    ``password``: the platform-wide one (``SHARPEYES_GB_PASSWORD``), for unknown devices on their way to the
    pending list; ``open_`` (demo mode): with it an unknown device is admitted and filed as before."""

    def __init__(self, engine: AsyncEngine, realm: str, password: str | None, open_: bool = False) -> None:
        self.engine, self.realm, self.password, self.open = engine, realm, password, open_
        self._cache: dict[str, tuple[float, SipCredential]] = {}
        self._generation = 0  # bumped by forget: a look-up that started before it is not cached

    def platform_ha1(self, gb_id: str) -> str | None:
        return gb_device.ha1(gb_id, self.realm, self.password) if self.password else None

    def __call__(self, gb_id: str) -> SipCredential | Awaitable[SipCredential]:
        hit = self._cache.get(gb_id)
        if hit is not None:
            ttl = CREDENTIAL_TTL_S if hit[1].ha1 is not None and not hit[1].report else NEGATIVE_CACHE_S
            if time.monotonic() - hit[0] < ttl:
                return hit[1]
        return self._load(gb_id)

    async def _load(self, gb_id: str) -> SipCredential:
        generation = self._generation
        async with self.engine.connect() as conn:
            row = (await conn.execute(_GB_LOOKUP, {"e": gb_id})).one()
        decision = decide("gb28181", gb_id, registered=gb_id if row.ha1 else None, mode=row.mode or DEFAULT_MODE,
                          listed=row.listed)
        cred = sip_credential(decision, own_ha1=row.ha1, platform_ha1=self.platform_ha1(gb_id), open_=self.open)
        if generation == self._generation:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[gb_id] = (time.monotonic(), cred)
        return cred

    async def report(self, gb_id: str, info: dict) -> None:
        """After a valid digest with the platform-wide password: on the pending list (counted), or, open,
        filed as a device (its division from its id's centre code, when that division is loaded)."""
        cred = self._cache.get(gb_id, (0.0, None))[1]
        async with self.engine.begin() as conn:
            if cred is not None and not cred.refusal:  # open: admitted by the platform-wide password
                c = gb_id[:6]  # the centre code's county, city, province
                await conn.execute(_GB_FILE, {
                    "g": gb_id, "n": gb_id, "divs": [c, c[:4] + "00", c[:2] + "0000"],
                    "k": gb_device.kind_for(gb_id), "h": self.platform_ha1(gb_id), "ed": info.get("edition"),
                    "t": info.get("transport"), "a": info.get("address")})
            else:
                detail = {k: v for k, v in info.items() if isinstance(v, str | int)}
                await conn.execute(_LIST, {"p": ["gb28181"], "e": [gb_id], "d": [orjson.dumps(detail).decode()]})
        self.forget(gb_id)

    def forget(self, gb_id: str | None = None) -> None:
        self._generation += 1
        if gb_id is None:
            self._cache.clear()
        else:
            self._cache.pop(gb_id, None)


# -- the administrator's side ---------------------------------------------------------------------

async def policies(conn: AsyncConnection) -> dict[str, str]:
    rows = dict((await conn.execute(text("SELECT protocol, mode FROM admission_policy"))).all())
    return {p: rows.get(p, DEFAULT_MODE) for p in PROTOCOLS}


async def set_policy(conn: AsyncConnection, scope: Scope, protocol: str, mode: str, by: str) -> str:
    """Returns the previous mode."""
    check_mode(protocol, mode)
    if not scope.everywhere:
        raise Forbidden("the admission rule holds for the whole platform: it needs a platform-wide grant")
    before = (await policies(conn))[protocol]
    await conn.execute(text(
        "INSERT INTO admission_policy (protocol, mode, updated_by) VALUES (:p, :m, :b) ON CONFLICT (protocol) "
        "DO UPDATE SET mode = EXCLUDED.mode, updated_by = EXCLUDED.updated_by, updated_at = now()"),
        {"p": protocol, "m": mode, "b": by})
    return before


def _row(r) -> dict:
    d = dict(r)
    for k in ("first_seen_at", "last_seen_at", "decided_at"):
        d[k] = d[k].isoformat() if d[k] else None
    return d


async def list_pending(conn: AsyncConnection, *, status: str | None = "pending", protocol: str | None = None,
                       limit: int = 1000) -> list[dict]:
    if status not in (None, "pending", "rejected"):
        raise InvalidInput("status is pending or rejected", field="status")
    rows = await conn.execute(text(
        "SELECT id, protocol, external_id, status, detail, attempts, first_seen_at, last_seen_at, decided_by, "
        "decided_at FROM pending_device WHERE (CAST(:s AS text) IS NULL OR status = :s) "
        "AND (CAST(:p AS text) IS NULL OR protocol = :p) ORDER BY last_seen_at DESC, id DESC LIMIT :n"),
        {"s": status, "p": protocol, "n": limit})
    return [_row(r) for r in rows.mappings()]


async def _pending(conn: AsyncConnection, pending_id: int) -> dict:
    r = (await conn.execute(text("SELECT id, protocol, external_id, status FROM pending_device WHERE id = :i "
                                 "FOR UPDATE"), {"i": pending_id})).mappings().first()
    if r is None:
        raise NotFound(f"pending device {pending_id} not found", field="pending_id")
    return dict(r)


async def accept(conn: AsyncConnection, scope: Scope, pending_id: int, *, kind: str = "vehicle",
                 name: str | None = None, division_code: str | None = None, gb_realm: str | None = None,
                 gb_password: str | None = None, by: str | None = None) -> tuple[dict, int]:
    """Registers the device as a target (its next report is accepted) and takes it off the list; a GB/T
    28181 device becomes a ``gb_device`` (returned id) whose password is the platform-wide one it used."""
    p = await _pending(conn, pending_id)
    if p["protocol"] == "gb28181":
        return p, await _accept_gb(conn, scope, p, kind=kind, name=name, division_code=division_code,
                                   realm=gb_realm, password=gb_password, by=by)
    if kind not in TARGET_KINDS:
        raise InvalidInput(f"unknown kind; one of {', '.join(TARGET_KINDS)}", field="kind")
    if division_code is not None:
        if not scope.covers(division_code):
            raise Forbidden(f"division {division_code} is outside your divisions")
        await divisions.require(conn, division_code)
    target_id = (await conn.execute(text(
        "INSERT INTO target (protocol, external_id, kind, name, division_code) VALUES (:p, :e, :k, :n, :d) "
        "ON CONFLICT (protocol, external_id) DO NOTHING RETURNING id"),
        {"p": p["protocol"], "e": p["external_id"], "k": kind, "n": name, "d": division_code})).scalar()
    if target_id is None:
        raise Conflict(f"{p['protocol']} device {p['external_id']!r} is registered already")
    await conn.execute(text("DELETE FROM pending_device WHERE id = :i"), {"i": pending_id})
    return p, target_id


async def _accept_gb(conn: AsyncConnection, scope: Scope, p: dict, *, kind: str, name: str | None,
                     division_code: str | None, realm: str | None, password: str | None, by: str | None) -> int:
    gb_id = p["external_id"]
    if not password or not realm:
        raise InvalidInput("no platform-wide GB/T 28181 password (SHARPEYES_GB_PASSWORD) is set: admit the "
                           "device with its own password (POST /api/v1/devices)")
    if division_code is None:  # the division its id's centre code names, when loaded
        c = gb_id[:6]
        division_code = (await conn.execute(text(
            "SELECT code FROM division WHERE code = ANY(CAST(:c AS text[])) "
            "ORDER BY array_position(CAST(:c AS text[]), code::text) LIMIT 1"),
            {"c": [c, c[:4] + "00", c[:2] + "0000"]})).scalar()
    if division_code is None and not scope.everywhere:
        raise InvalidInput("choose the device's division", field="division_code")
    if division_code is not None:
        if not scope.covers(division_code):
            raise Forbidden(f"division {division_code} is outside your divisions")
        await divisions.require(conn, division_code)
    device_id = await devices.insert_device(
        conn, gb_id=gb_id, name=name or gb_id, division_code=division_code,
        kind=kind if kind in gb_device.KINDS else gb_device.kind_for(gb_id),
        ha1=gb_device.ha1(gb_id, realm, password), by=by)
    await conn.execute(text("DELETE FROM pending_device WHERE id = :i"), {"i": p["id"]})
    return device_id


async def reject(conn: AsyncConnection, pending_id: int, by: str) -> dict:
    """Keeps the device on the list as rejected: its reports are refused with that reason."""
    p = await _pending(conn, pending_id)
    await conn.execute(text("UPDATE pending_device SET status = 'rejected', decided_by = :b, decided_at = :t "
                            "WHERE id = :i"), {"i": pending_id, "b": by, "t": datetime.now(UTC)})
    return p
