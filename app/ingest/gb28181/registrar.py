"""REGISTER: who may register (a credential look-up), digest authentication, expiry bounds, the Date
header, and what follows a new registration (catalog query, DeviceInfo, subscriptions, SetGuard).

Who may register is not decided here: ``credentials(device_id)`` (the runtime injects the platform's
admission rule, app/services/admission.py ``GbCredentials``) answers a ``SipCredential`` at once when
cached or an awaitable to wait for; without it (protocol tests, the benchmark) the server's own
``device_passwords`` and the platform-wide ``settings.password`` admit. ``report(device_id, info)`` is
called after a valid digest the credential asks to report (a device for the pending list).

Mixed into ``Gb28181Server`` (``server.py``), whose state and helpers it uses: ``settings``, ``stats``,
``registry``, ``_reply``, ``_spawn``, ``_publish``.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from app.domain import gb_device
from app.domain.admission import UNKNOWN, SipCredential
from app.ingest.gb28181 import digest, sip
from app.ingest.gb28181.device_state import DeviceState
from app.ingest.gb28181.queries import Queries
from app.ingest.gb28181.registry import Device

log = logging.getLogger("app.ingest.gb28181")

_DEVICE_ID = re.compile(r"^\d{20}$")
_NONCE_TTL_S = 600.0
_NONCES_MAX = 50_000

CredentialLookup = Callable[[str], SipCredential | Awaitable[SipCredential]]
Report = Callable[[str, dict], Awaitable[None]]


class Registrar(DeviceState, Queries):
    credentials: CredentialLookup | None = None  # injected by the runtime (the admission rule)
    report: Report | None = None

    def _credential(self, dev_id: str) -> SipCredential | Awaitable[SipCredential]:
        if self.credentials is not None:
            return self.credentials(dev_id)
        password = self.passwords.get(dev_id, self.settings.password)
        if password is None:
            return SipCredential(None, UNKNOWN)
        return SipCredential(gb_device.ha1(dev_id, self.settings.domain, password))

    def _on_register(self, ctx) -> None:
        msg, addr, _, _, key = ctx
        dev_id = sip.uri_user(msg.get("From") or "") or sip.uri_user(msg.get("To") or "")
        if not _DEVICE_ID.match(dev_id):
            self.warn("bad_device_id", "REGISTER from %s with id %r", addr, dev_id)
            self._reply(ctx, 400, "Bad Device ID")
            return
        cred = self._credential(dev_id)
        if not inspect.isawaitable(cred):
            self._register(ctx, dev_id, cred)
            return
        # Not cached: look it up in the background (the loop never waits for the database). A UDP
        # retransmission meanwhile is dropped; the answer to the first one answers it.
        if not hasattr(self, "_looking_up"):
            self._looking_up: set = set()
        if key in self._looking_up:
            return
        self._looking_up.add(key)
        self._spawn(self._register_later(ctx, dev_id, cred), "register")

    async def _register_later(self, ctx, dev_id: str, pending: Awaitable[SipCredential]) -> None:
        try:
            cred = await pending
        except Exception:
            log.exception("GB/T 28181 credential look-up of %s failed", dev_id)
            self._reply(ctx, 503, "Service Unavailable", headers=[("Retry-After", "30")])
            return
        finally:
            self._looking_up.discard(ctx[4])
        self._register(ctx, dev_id, cred)

    def _register(self, ctx, dev_id: str, cred: SipCredential) -> None:
        msg, addr, transport, send, _ = ctx
        if cred.ha1 is None:
            self.warn("unknown_device", "REGISTER from %s at %s refused: %s", dev_id, addr, cred.refusal)
            self._reply(ctx, 403, cred.refusal or UNKNOWN)
            return
        auth = digest.parse_authorization(msg.get("Authorization") or "")
        if not auth:
            self._challenge(ctx)
            return
        if auth.get("nonce") not in self._nonces:
            self._challenge(ctx, stale=True)  # e.g. issued before a restart
            return
        if auth.get("username") != dev_id or not digest.verify(auth, None, "REGISTER", ha1=cred.ha1):
            self.warn("auth_failed", "wrong password for %s from %s", dev_id, addr)
            self._reply(ctx, 403, "wrong password")
            return
        edition = gb_device.edition(msg.get("X-GB-Ver"))
        if cred.report and self.report is not None:
            info = {"address": f"{addr[0]}:{addr[1]}", "transport": transport, "edition": edition,
                    "user_agent": (msg.get("User-Agent") or "")[:100]}
            self._spawn(self.report(dev_id, info), "report")
        if cred.refusal:
            self.stats["refused_after_auth"] += 1
            self._reply(ctx, 403, cred.refusal)
            return
        expires = self._expires(msg)
        if expires == 0:
            self._reply(ctx, 200, headers=self._register_headers(msg, 0))
            dev = self.registry.unregister(dev_id)
            self.stats["unregistrations"] += 1
            if dev is not None:
                self._spawn(self._device_status(dev, "offline", "unregistered"), "status")
            return
        if expires < self.settings.register_expires_min_s:
            self._reply(ctx, 423, headers=[("Min-Expires", str(self.settings.register_expires_min_s))])
            return
        expires = min(expires, self.settings.register_expires_max_s)
        self._reply(ctx, 200, headers=self._register_headers(msg, expires))
        now = self.now()
        new = Device(
            dev_id, msg.call_id, msg.get("Contact") or "", addr, transport, send, now, now + expires, now
        )
        before = self.registry.get(dev_id)
        was_online = before is not None and before.online
        dev, refresh = self.registry.register(new)
        dev.online = True
        self.stats["refreshes" if refresh else "registrations"] += 1
        self._note_registered(dev, expires, edition, new=not refresh)
        if not refresh:
            self._spawn(self._after_register(dev), "after_register")
        elif not was_online:
            self._spawn(self._device_status(dev, "online", "registered"), "status")

    def _challenge(self, ctx, stale: bool = False) -> None:
        nonce = digest.new_nonce()
        self._nonces[nonce] = self.now() + _NONCE_TTL_S
        if len(self._nonces) > _NONCES_MAX:  # a REGISTER flood must not grow memory without bound
            del self._nonces[next(iter(self._nonces))]
        self.stats["challenges"] += 1
        self._reply(
            ctx, 401, headers=[("WWW-Authenticate", digest.challenge(self.settings.domain, nonce, stale))]
        )

    def _expires(self, msg: sip.SipMessage) -> int:
        raw = msg.get("Expires")
        if raw is None:
            raw = sip.header_params(msg.get("Contact") or "").get("expires")
        try:
            return max(0, int(raw)) if raw is not None else 3600
        except ValueError:
            return 3600

    def _register_headers(self, msg: sip.SipMessage, expires: int) -> list[tuple[str, str]]:
        headers = []
        if msg.get("Contact"):
            headers.append(("Contact", msg.get("Contact")))
        headers.append(("Expires", str(expires)))
        if self.settings.date_header:
            # GB format, local time of the platform's zone: cameras set their clocks from it.
            headers.append(("Date", datetime.now(self.tz).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]))
        return headers

    async def _after_register(self, dev: Device) -> None:
        await self._device_status(dev, "online", "registered")
        s = self.settings
        if self.store is not None:  # its manufacturer, model and firmware for the device's row
            self._spawn(self.device_info(dev), "device_info")
        if s.catalog_on_register:
            await self.query(dev, "Catalog")
        if s.subscribe_catalog:
            await self.subscribe(dev, "Catalog", "Catalog")
        if s.subscribe_mobile_position:
            await self.subscribe(
                dev, "presence", "MobilePosition", {"Interval": str(s.mobile_position_interval_s)}
            )
        if s.subscribe_alarm:
            await self.control(dev, {"GuardCmd": "SetGuard"})
            await self.subscribe(dev, "presence", "Alarm")

    def _expire_nonces(self, now: float) -> None:
        # In insertion (= time) order: drop from the front until a live entry.
        while self._nonces and now > next(iter(self._nonces.values())):
            del self._nonces[next(iter(self._nonces))]
