"""JT/T 808 frames and messages of one connection → replies and fixes for the group commit.

A 0x0200 location of an authenticated terminal takes a short struct-only path; everything else is
decoded in full (sub-packages reassembled). Malformed input is counted and logged and never ends the
listener; a wrong checksum is answered "bad message" and the connection stays open. Acknowledged means
stored: a location is validated before it joins a group, and a message with a fix that cannot be stored
(in the future, coordinates out of range…) is answered "bad message" (0x8001 result 2), never "ok".
Blind-area backfill (0x0704 type 1) is stored as history. Which terminals may register and authenticate
is ``admit``'s decision (one admission rule for every protocol); a refused terminal gets 0x8100 result 4 /
0x8001 "fail".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from app.domain.admission import Decision
from app.domain.fix import Fix, FixRejected, Validator
from app.ingest.jt808 import messages as m
from app.ingest.jt808.codec import (
    ATTR_SUBPACKAGE,
    ATTR_VERSIONED,
    MAX_BODY,
    Frame,
    Jt808Error,
    checksum,
    decode_frame,
    encode_frame,
    unescape,
)
from app.ingest.jt808.connection import Connection, Deferred, general_reply

if TYPE_CHECKING:
    from app.ingest.jt808.server import Jt808Server

log = logging.getLogger("app.ingest.jt808.server")  # one logger for the listener, as before the split
# (terminal id, what it said about itself) → the decision, at once when cached, else awaitable.
Admit = Callable[[str, dict], "Decision | Awaitable[Decision]"]
MAX_PACKAGES = 64  # sub-packaged message parts kept per connection
_HEAD = struct.Struct(">HH")
_SIMPLE_MASK = ATTR_VERSIONED | ATTR_SUBPACKAGE | 0x1C00  # 2019 header, sub-packages, encryption
_ADMITTED = Decision(True, "registered", "no admission rule (protocol tests)")
_NO_CODE = Decision(False, "bad_code", "wrong authentication code")
_UNKNOWN = Decision(False, "unavailable", "admission could not be checked now")


def auth_code(secret: str, phone: str) -> str:
    """Derived, not stored: a terminal re-authenticating after a server restart still matches."""
    return hmac.new(secret.encode(), phone.encode(), hashlib.sha256).hexdigest()[:16]


class MessageHandler:
    """The listener's protocol logic; its settings (secret, admission, require_auth…) are read from
    ``server``, its fixes go to ``server.groups``."""

    def __init__(self, server: Jt808Server) -> None:
        self.server = server
        self.stats = server.stats
        self._add = server.groups.add
        self._check: Validator | None = None
        self._check_at = -1.0
        self.lookups: set[asyncio.Task] = set()  # admission look-ups under way

    def _validate(self, fixes: list[Fix]) -> FixRejected | None:
        """None if every fix may be stored, else the first reason (the clock is read at most every 0.5 s)."""
        now = time.monotonic()
        if self._check is None or now - self._check_at > 0.5:
            self._check, self._check_at = Validator(max_age=self.server.max_age), now
        check = self._check
        try:
            for fix in fixes:
                check(fix)
        except FixRejected as exc:
            return exc
        return None

    # -- frames --------------------------------------------------------------------------------
    def on_segment(self, conn: Connection, segment: bytes) -> None:
        self.stats.frames += 1
        session = conn.session
        # The usual frame: a 2013-header 0x0200 of an authenticated terminal, checksum right.
        try:
            data = unescape(segment) if b"\x7d" in segment else segment
        except Jt808Error:
            data = b""  # the full path below counts and logs it
        if len(data) >= 13 and session.phone_raw:
            msg_id, attributes = _HEAD.unpack_from(data, 0)
            if (msg_id == m.LOCATION and not attributes & _SIMPLE_MASK
                    and len(data) == 13 + (attributes & MAX_BODY) and data[4:10] == session.phone_raw
                    and checksum(data[:-1]) == data[-1]):
                serial = data[10] << 8 | data[11]
                try:
                    fix = m.location_fix(data[12:-1], session.device or session.phone)
                except Jt808Error as exc:
                    self.stats.bad_frames += 1
                    log.info("JT/T 808 %s: bad message 0x%04X: %s", session.phone, msg_id, exc)
                    conn.reply_now(general_reply(session.phone_raw, session.next_serial(), serial, msg_id,
                                                 m.BAD_MESSAGE, None))
                    return
                refused = self._validate([fix])
                if refused is not None:
                    self._refuse(session.phone or "?", refused)
                    conn.reply_now(general_reply(session.phone_raw, session.next_serial(), serial, msg_id,
                                                 m.BAD_MESSAGE, None))
                    return
                self._add(conn, [fix], session.phone_raw, serial, msg_id, None)
                return
        try:
            frame = decode_frame(segment)
        except Jt808Error as exc:
            self.stats.bad_frames += 1
            log.debug("JT/T 808 %s: dropped frame: %s", session.peer, exc)
            return
        if not frame.checksum_ok:
            self.stats.bad_checksums += 1
            log.warning(
                "JT/T 808 %s (%s): wrong checksum on message 0x%04X",
                frame.header.phone,
                session.peer,
                frame.header.msg_id,
            )
            if not self.server.accept_bad_checksum:
                self._reply(conn, frame, m.BAD_MESSAGE)
                return
        frame = self._reassemble(conn, frame)
        if frame is not None:
            self._on_message(conn, frame)

    def _reassemble(self, conn: Connection, frame: Frame) -> Frame | None:
        session = conn.session
        h = frame.header
        if h.package_total is None or h.package_total == 1:
            return frame
        key = (h.msg_id, h.package_total)
        parts = session.parts.setdefault(key, {})
        parts[h.package_index or 0] = frame.body
        if len(parts) < h.package_total:
            if sum(len(p) for p in session.parts.values()) > MAX_PACKAGES:
                session.parts.clear()  # a terminal that never completes must not grow memory
            self._reply(conn, frame, m.OK)
            return None
        body = b"".join(parts[i] for i in sorted(parts))
        del session.parts[key]
        return Frame(h, body, frame.checksum_ok)

    def _reply(self, conn: Connection, frame: Frame, result: int) -> None:
        """Queue a 0x8001 for ``frame`` (behind the replies still waiting for a commit)."""
        h = frame.header
        conn.reply_now(general_reply(h.phone_raw, conn.session.next_serial(), h.serial, h.msg_id, result,
                                     h.version))

    # -- messages ------------------------------------------------------------------------------
    def _on_message(self, conn: Connection, frame: Frame) -> None:
        h = frame.header
        if h.encrypted:
            self._reply(conn, frame, m.UNSUPPORTED)
            return
        try:
            if h.msg_id == m.REGISTER:
                self._on_register(conn, frame)
            elif h.msg_id == m.AUTHENTICATE:
                self._on_authenticate(conn, frame)
            elif h.msg_id == m.HEARTBEAT:
                self._reply(conn, frame, m.OK)
            elif h.msg_id in (m.LOCATION, m.BATCH_LOCATION):
                self._on_location(conn, frame)
            elif h.msg_id == m.TERMINAL_REPLY:
                pass  # the terminal acknowledging one of ours: nothing to answer
            else:
                self._reply(conn, frame, m.UNSUPPORTED)
        except Jt808Error as exc:
            self.stats.bad_frames += 1
            log.info("JT/T 808 %s: bad message 0x%04X: %s", h.phone, h.msg_id, exc)
            self._reply(conn, frame, m.BAD_MESSAGE)

    def _on_register(self, conn: Connection, frame: Frame) -> None:
        session, h = conn.session, frame.header
        reg = m.decode_register(frame.body, h.version)
        info = {"version": 2019 if h.version is not None else 2013, "manufacturer": reg.manufacturer,
                "model": reg.model, "terminal_id": reg.terminal_id, "plate": reg.plate, "peer": session.peer}
        secret = self.server.secret

        def registered(decision: Decision) -> bytes:
            session.phone = h.phone
            if not decision.admitted:
                session.authenticated, session.phone_raw = False, b""
                log.info("JT/T 808 %s (%s): registration refused: %s", h.phone, session.peer, decision.message)
                return encode_frame(m.REGISTER_REPLY, h.phone_raw, session.next_serial(),
                                    m.encode_register_reply(h.serial, m.NO_TERMINAL), h.version)
            session.phone_raw = h.phone_raw if session.authenticated and h.version is None else b""
            return encode_frame(m.REGISTER_REPLY, h.phone_raw, session.next_serial(),
                                m.encode_register_reply(h.serial, m.REGISTERED, auth_code(secret, h.phone)),
                                h.version)

        self._decide(conn, h.phone, info, registered)

    def _on_authenticate(self, conn: Connection, frame: Frame) -> None:
        session, h = conn.session, frame.header
        auth = m.decode_authenticate(frame.body, h.version)
        code_ok = hmac.compare_digest(auth.code, auth_code(self.server.secret, h.phone))
        if not code_ok:
            log.warning("JT/T 808 %s (%s): wrong auth code", h.phone, session.peer)

        def authenticated(decision: Decision) -> bytes:
            ok = code_ok and decision.admitted
            if code_ok and not ok:
                log.info("JT/T 808 %s (%s): refused: %s", h.phone, session.peer, decision.message)
            session.authenticated = ok
            session.phone = h.phone
            session.device = decision.device_id if ok else None
            # The hot path knows this terminal by its 2013 BCD phone (a 2019 header: the full path).
            session.phone_raw = h.phone_raw if ok and h.version is None else b""
            return general_reply(h.phone_raw, session.next_serial(), h.serial, h.msg_id,
                                 m.OK if ok else m.FAIL, h.version)

        if code_ok:
            self._decide(conn, h.phone, {"peer": session.peer}, authenticated)
        else:
            conn.reply_now(authenticated(_NO_CODE))

    def _on_location(self, conn: Connection, frame: Frame) -> None:
        session = conn.session
        h = frame.header
        if self.server.require_auth and not (session.authenticated and session.phone == h.phone):
            self.stats.unauthenticated += 1
            self._reply(conn, frame, m.FAIL)
            return
        device = (session.device or h.phone) if session.phone == h.phone else h.phone
        if h.msg_id == m.LOCATION:
            fixes = [m.location_fix(frame.body, device)]
        else:
            batch = m.decode_batch_location(frame.body)
            fixes = [loc.to_fix(device, history=batch.kind == 1) for loc in batch.items]
        refused = self._validate(fixes)
        if refused is not None:  # the whole message: "bad message" and nothing of it stored
            self._refuse(h.phone, refused)
            self._reply(conn, frame, m.BAD_MESSAGE)
            return
        self._add(conn, fixes, h.phone_raw, h.serial, h.msg_id, h.version)

    def _refuse(self, phone: str, exc: FixRejected) -> None:
        self.stats.refused += 1
        log.info("JT/T 808 %s: location refused (%s): %s", phone, exc.reason, exc.message)

    def _decide(self, conn: Connection, phone: str, info: dict, then: Callable[[Decision], bytes]) -> None:
        """Reply ``then(decision)``: at once when the decision is at hand, else when the look-up returns
        (replies behind it wait, so the terminal hears them in order)."""
        admit = self.server.admit
        got = _ADMITTED if admit is None else admit(phone, info)
        if type(got) is Decision:
            conn.reply_now(then(got))
            return
        slot = Deferred()
        conn.queue.append(slot)

        async def wait() -> None:
            try:
                decision = await got
            except Exception:  # the database away: refuse for now, the terminal tries again
                log.exception("JT/T 808 %s: admission look-up failed", phone)
                decision = _UNKNOWN
            slot.reply = then(decision)
            conn.flush()

        task = asyncio.get_running_loop().create_task(wait())
        self.lookups.add(task)
        task.add_done_callback(self.lookups.discard)
