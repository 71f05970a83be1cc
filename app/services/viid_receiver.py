"""The GA/T 1400 view library's receiver: register (digest), keepalive, unregister, uploads.

Who may register is the platform's one admission rule (app/services/admission.py ``GbCredentials``, the
rule GB/T 28181 REGISTER uses): a device registered in the device registry (``/api/v1/devices``, 20-digit
id) authenticates with its own password; an unknown one, with the platform-wide password, reaches the
pending list (mode ``pending``) and is refused until an administrator accepts it. The digest realm is the
SIP domain the registry's HA1s are made with. The credential is asked again (a cached dict hit) on every
request, so a device deleted or rejected meanwhile is refused from its next upload.

Every answer is ``(HTTP status, GA/T 1400 JSON)``. An upload's objects are checked one by one: refused ones
get their own status, the others are stored, images first (on disk, flushed), then the rows in one
transaction, committed before the answer: acknowledged means stored."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.domain.admission import SipCredential
from app.ingest.viid import auth
from app.ingest.viid import catalog as cat
from app.ingest.viid import messages as m
from app.ingest.viid import records as rec
from app.services import viid_catalog, viid_store
from app.services.admission import CREDENTIALS_TOPIC, GbCredentials
from app.services.viid_images import ImageStore

log = logging.getLogger("app.viid")

Answer = tuple[int, dict, dict[str, str]]  # HTTP status, body, extra headers

# upload path → (list object, item, id field, image category)
CATALOG = ("Tollgates", "APEs", "Lanes")  # descriptions, not records: no images, upserted one by one
UPLOADS = {
    "MotorVehicles": ("MotorVehicleListObject", "MotorVehicleObject", "MotorVehicleID", "vehicle"),
    "Tollgates": ("TollgateListObject", "TollgateObject", "TollgateID", None),
    "APEs": ("APEListObject", "APEObject", "ApeID", None),
    "Lanes": ("LaneListObject", "LaneObject", "LaneId", None),
    **{path: (*rec.SIGHTINGS[kind][:3], kind) for path, kind in
       (("Faces", "face"), ("Persons", "person"), ("NonMotorVehicles", "nonmotor"))},
}


class Receiver:
    def __init__(self, engine: AsyncEngine, settings: Settings, realm: str, platform_password: str | None,
                 subscribe: Callable | None = None,
                 after_vehicles: Callable[[list[rec.MotorVehicle]], Awaitable[object]] | None = None) -> None:
        self.engine, self.settings, self.realm = engine, settings, realm
        self.after_vehicles = after_vehicles  # after the commit: watchlist alarms (services/watchlist_alarms)
        self.tz = ZoneInfo(settings.viid_tz)
        self.lapse_s = settings.viid_keepalive_s * settings.viid_keepalive_misses
        self.credentials = GbCredentials(engine, realm, platform_password, open_=settings.demo_mode)
        self.images = ImageStore(settings.viid_image_dir or settings.data_dir / "viid")
        if subscribe is not None:  # an administrator's change holds from the device's next request
            subscribe(lambda _t, msg: self.credentials.forget(msg.get("gb_id")), topics={CREDENTIALS_TOPIC})

    def _answer(self, http: int, url: str, code: int, text: str, ident: str = "", **headers: str) -> Answer:
        return http, m.response(url, code, text, datetime.now(UTC), self.tz, ident), headers

    async def _credential(self, device: str) -> SipCredential:
        cred = self.credentials(device)
        return await cred if inspect.isawaitable(cred) else cred

    # -- System ------------------------------------------------------------------------------------------

    async def register(self, url: str, device: str | None, raw: bytes, authorization: str | None,
                       address: str | None, user_agent: str | None) -> Answer:
        if device is None:
            return self._answer(400, url, m.INVALID_OPERATION, "User-Identify: a 20-digit device id is required")
        try:
            body = m.single(m.decode(raw), "RegisterObject") if raw.strip() else {}
        except m.BadBody as exc:
            return self._answer(400, url, exc.code, str(exc))
        said = m.field(body, "DeviceID")
        if said is not None and str(said).strip() != device:
            return self._answer(400, url, m.INVALID_JSON_CONTENT, "RegisterObject.DeviceID is not User-Identify")
        cred = await self._credential(device)
        if cred.ha1 is None:
            log.info("GA/T 1400 register of %s refused: %s", device, cred.refusal)
            return self._answer(403, url, m.INVALID_OPERATION, cred.refusal or "Unknown Device", device)
        now = time.time()
        verdict = auth.check(authorization, device, cred.ha1, "POST", self.settings.secret_key, now)
        if verdict in ("missing", "stale"):
            return self._answer(401, url, m.INVALID_OPERATION, "authentication required", device,
                                **{"WWW-Authenticate": auth.challenge(self.realm, self.settings.secret_key, now,
                                                                      stale=verdict == "stale")})
        if verdict == "wrong":
            log.info("GA/T 1400 register of %s: wrong password", device)
            return self._answer(403, url, m.INVALID_OPERATION, "wrong password", device)
        if cred.report:  # the platform-wide password: to the pending list (or filed, open)
            await self.credentials.report(device, {"address": address or "", "via": "GA/T 1400",
                                                   "user_agent": (user_agent or "")[:100]})
        if cred.refusal:
            return self._answer(403, url, m.INVALID_OPERATION, cred.refusal, device)
        async with self.engine.begin() as conn:
            await viid_store.open_session(conn, device, address)
        log.info("GA/T 1400 device %s registered", device)
        return self._answer(200, url, m.OK, "OK", device)

    async def _live(self, url: str, device: str | None, address: str | None) -> Answer | viid_store.Session:
        """The device's live session, or the refusal to answer."""
        if device is None:
            return self._answer(400, url, m.INVALID_OPERATION, "User-Identify: a 20-digit device id is required")
        cred = await self._credential(device)
        if cred.ha1 is None or cred.refusal:
            async with self.engine.begin() as conn:
                await viid_store.close_session(conn, device)
            return self._answer(403, url, m.INVALID_OPERATION, cred.refusal or "Unknown Device", device)
        async with self.engine.begin() as conn:
            s = await viid_store.session(conn, device, address, self.lapse_s)
        if s.state == "ok":
            return s
        why = {"none": "not registered: register first", "lapsed": "session lapsed (no keepalive): register again",
               "moved": "session registered from another address: register again"}[s.state]
        return self._answer(401, url, m.INVALID_OPERATION, why, device)

    async def keepalive(self, url: str, device: str | None, raw: bytes, address: str | None) -> Answer:
        live = await self._live(url, device, address)
        if not isinstance(live, viid_store.Session):
            return live
        async with self.engine.begin() as conn:
            await viid_store.keepalive(conn, device)
        return self._answer(200, url, m.OK, "OK", device)

    async def unregister(self, url: str, device: str | None, address: str | None) -> Answer:
        live = await self._live(url, device, address)
        if not isinstance(live, viid_store.Session):
            return live
        async with self.engine.begin() as conn:
            await viid_store.close_session(conn, device)
        return self._answer(200, url, m.OK, "OK", device)

    def system_time(self) -> dict:
        return {"SystemTimeObject": {"VIIDServerID": self.settings.viid_server_id, "TimeMode": "1",
                                     "LocalTime": m.local_time(datetime.now(UTC), self.tz),
                                     "TimeZone": self.settings.viid_tz}}

    # -- uploads -----------------------------------------------------------------------------------------

    async def upload(self, what: str, url: str, device: str | None, raw: bytes, address: str | None) -> Answer:
        list_key, item_key, id_name, category = UPLOADS[what]
        live = await self._live(url, device, address)
        if not isinstance(live, viid_store.Session):
            return live
        try:
            items = m.objects(m.decode(raw), list_key, item_key)
        except m.BadBody as exc:
            return self._answer(400, url, exc.code, str(exc), device)
        now = datetime.now(UTC)
        statuses: list[dict | None] = [None] * len(items)
        parsed = []
        for i, obj in enumerate(items):
            try:
                parsed.append((i, self._parse(what, obj)))
            except rec.Refused as exc:
                ident = cat.lane_key(obj) if what == "Lanes" else rec.record_id(obj, id_name)
                statuses[i] = m.status(url, exc.code, exc.reason, now, self.tz, ident)
        if parsed:
            if what in CATALOG:
                await self._catalog(what, url, device, live, parsed, statuses, now)
            else:
                try:
                    with_images = await self._store_images(category, parsed, now)
                except OSError:  # disk full, store unmounted: nothing acknowledged, the device sends again
                    log.exception("GA/T 1400 image store %s failed", self.images.root)
                    return self._answer(503, url, m.OTHER_ERROR, "image store unavailable; send again later",
                                        device, **{"Retry-After": "30"})
                async with self.engine.begin() as conn:
                    put = viid_store.put_motor_vehicles if what == "MotorVehicles" else viid_store.put_sightings
                    await put(conn, with_images, device, live.division)
                for i, r in parsed:
                    statuses[i] = m.status(url, m.OK, "OK", now, self.tz, r.record_id)
                if what == "MotorVehicles" and self.after_vehicles is not None:
                    try:  # stored and acknowledged whatever happens here
                        await self.after_vehicles([r for _, r in parsed])
                    except Exception:
                        log.exception("GA/T 1400 after-store step failed")
        return 200, m.response_list(statuses), {}

    def _parse(self, what: str, obj):
        if what == "MotorVehicles":
            return rec.motor_vehicle(obj, self.tz)
        if what == "Tollgates":
            return rec.tollgate(obj)
        if what == "APEs":
            return cat.ape(obj)
        if what == "Lanes":
            return cat.lane(obj)
        return rec.sighting(UPLOADS[what][3], obj, self.tz)

    async def _store_images(self, category: str, parsed: list, now: datetime) -> list:
        day = now.astimezone(self.tz).date()
        work = [(category, day, img.data, img.ext) for _, r in parsed for img in r.images if img.data]
        keys = iter(await asyncio.to_thread(self.images.put_all, work) if work else [])
        return [(r, viid_store.image_refs([next(keys) if img.data else None for img in r.images], list(r.images)))
                for _, r in parsed]

    async def _catalog(self, what: str, url: str, device: str, live: viid_store.Session, parsed: list,
                       statuses: list, now: datetime) -> None:
        async with self.engine.begin() as conn:
            for i, o in parsed:
                if what == "Tollgates":
                    ok, ident = await viid_store.put_tollgate(conn, o, device, live.division), o.tollgate_id
                elif what == "APEs":
                    ok, ident = await viid_catalog.put_ape(conn, o, device, live.division), o.ape_id
                else:
                    ok, ident = await viid_catalog.put_lane(conn, o, device), o.record_id
                statuses[i] = (m.status(url, m.OK, "OK", now, self.tz, ident) if ok else
                               m.status(url, m.INVALID_OPERATION, f"{what[:-1].lower()} described by another "
                                        "device", now, self.tz, ident))
