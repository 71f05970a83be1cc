"""The link to one upper platform (GB/T 28181 cascade, this platform as the lower one): pure protocol.

It registers like a device does (REGISTER, 401 → digest ``Authorization``, 200), refreshes before the
granted expiry, sends Keepalive MESSAGEs every period, and after a loss (missed keepalives, a refused or
unanswered refresh, the TCP connection closed) registers again with a growing back-off. ``stop`` unregisters
(``Expires: 0``). Requests travel through the SIP server's transactions (``request``: retransmission over
UDP, answers matched by branch); over UDP they leave from the server's own socket, so the upper's queries
come back to the server, which hands them to the cascade runtime. Over TCP the link holds one connection
and feeds what arrives on it to the server (``deliver``).

State changes go to ``on_change(status)``; nothing here touches a database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from app.ingest.gb28181 import digest, manscdp, sip

log = logging.getLogger("app.ingest.gb28181.upper")

MANSCDP = "Application/MANSCDP+xml"


@dataclass(frozen=True, slots=True)
class LinkConfig:
    upper_id: str
    domain: str
    host: str
    port: int
    transport: str  # 'udp' | 'tcp'
    password: str
    local_id: str
    expires_s: int = 3600
    keepalive_s: float = 60.0
    keepalive_misses: int = 3
    charset: str = "GB2312"
    timeout_s: float = 8.0  # one transaction (UDP: retransmitted inside it)
    backoff_max_s: float = 60.0

    @property
    def local_domain(self) -> str:
        return self.local_id[:10]


@dataclass(frozen=True, slots=True)
class LinkStatus:
    state: str  # registering | registered | offline | disabled
    since: float  # wall clock (time.time())
    error: str | None = None
    registered_at: float | None = None
    last_keepalive: float | None = None


@dataclass(slots=True)
class Path:
    """What the server's ``send_request`` needs of the peer: how bytes reach it."""

    transport: str  # 'UDP' | 'TCP'
    send: Callable[[bytes], None]


Request = Callable[[Path, sip.SipMessage, float], Awaitable[sip.SipMessage | None]]
Deliver = Callable[[sip.SipMessage, tuple[str, int], str, Callable[[bytes], None]], None]


class LinkLost(Exception):
    """The registration is gone (refused, unanswered, connection closed): register again."""


class UpperLink:
    def __init__(self, config: LinkConfig, *, request: Request, udp_send: Callable[[tuple[str, int], bytes], None],
                 deliver: Deliver, local_host: str, udp_port: int, tcp_port: int,
                 on_change: Callable[[LinkStatus], None] = lambda s: None) -> None:
        self.config = config
        self._request, self._udp_send, self._deliver = request, udp_send, deliver
        self.local_host, self.udp_port, self.tcp_port = local_host, udp_port, tcp_port
        self.on_change = on_change
        self.status = LinkStatus("offline", time.time())
        self.call_id = f"{secrets.token_hex(8)}@{local_host}"
        self.from_tag = sip.new_tag()
        self._cseq = 0
        self._sn = 0
        self._challenge: dict[str, str] | None = None  # the last 401's parameters (reused to unregister)
        self._nc = 0  # nonce count under the current challenge (qop=auth)
        self._path: Path | None = None
        self._tcp: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._tcp_reader: asyncio.Task | None = None
        self._tcp_closed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._peer_ips: list[str] = []  # the upper's addresses: requests from elsewhere are not its
        self.keepalives_sent = 0

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, unregister: bool = True) -> None:
        """Stop the link; with ``unregister`` and a live registration, tell the upper (``Expires: 0``)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if unregister and self.status.state == "registered":
            with contextlib.suppress(Exception):  # bounded: a shutdown does not wait out a dead upper
                await asyncio.wait_for(self._register(0), min(self.config.timeout_s, 4.0))
        await self._close_tcp()
        self._set("disabled")

    @property
    def registered(self) -> bool:
        return self.status.state == "registered"

    def _set(self, state: str, error: str | None = None, **changes) -> None:
        s = self.status
        since = s.since if state == s.state else time.time()
        self.status = replace(s, state=state, since=since, error=error if error is not None else
                              (s.error if state == s.state else None), **changes)
        self.on_change(self.status)

    # --- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                self._set("registering", self.status.error)
                expires = await self._register(self.config.expires_s)
                failures = 0
                self._set("registered", None, registered_at=time.time())
                await self._keep(expires)
            except asyncio.CancelledError:
                raise
            except LinkLost as exc:
                failures += 1
                log.warning("upper platform %s: %s", self.config.upper_id, exc)
                self._set("offline", str(exc))
            except Exception as exc:  # a bug must not end the link for good
                failures += 1
                log.exception("upper platform %s link failed", self.config.upper_id)
                self._set("offline", f"{type(exc).__name__}: {exc}")
            await self._close_tcp()
            self._path, self._peer_ips = None, []  # resolved again: the upper may have moved
            await asyncio.sleep(min(self.config.backoff_max_s, 0.5 * 2 ** min(failures, 10)))

    async def _keep(self, expires: int) -> None:
        """Keepalives until the refresh is due (then REGISTER again on the same Call-ID) or the link is lost."""
        c = self.config
        refresh_at = time.monotonic() + max(1.0, expires * 0.8)
        misses = 0
        while True:
            wait = min(c.keepalive_s, max(0.0, refresh_at - time.monotonic()))
            closed = await self._wait_closed(wait)
            if closed:
                raise LinkLost("connection to the upper platform closed")
            if time.monotonic() >= refresh_at:
                expires = await self._register(c.expires_s)
                self._set("registered", None, registered_at=time.time())
                refresh_at = time.monotonic() + max(1.0, expires * 0.8)
                continue
            resp = await self.message(self._keepalive_body())
            if resp is not None and resp.status == 200:
                misses = 0
                self.keepalives_sent += 1
                self._set("registered", None, last_keepalive=time.time())
                continue
            if resp is not None and resp.status in (401, 403, 404):
                raise LinkLost(f"keepalive refused: {resp.status} {resp.reason}")  # the upper forgot us
            misses += 1
            if misses >= c.keepalive_misses:
                raise LinkLost(f"{misses} keepalives unanswered")

    async def _wait_closed(self, seconds: float) -> bool:
        if self._tcp is None:
            await asyncio.sleep(seconds)
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tcp_closed.wait(), seconds)
        return self._tcp_closed.is_set()

    def _keepalive_body(self) -> bytes:
        self._sn += 1
        return manscdp.build("Notify", "Keepalive", self._sn, self.config.local_id, {"Status": "OK"},
                             encoding=self.config.charset)

    def next_sn(self) -> int:
        self._sn += 1
        return self._sn

    # --- requests ----------------------------------------------------------------------------------

    def trusts(self, addr: tuple[str, int]) -> bool:
        """Whether a request from ``addr`` may be the upper's (its id in From is not enough)."""
        return addr[0] in self._peer_ips or addr[0] == self.config.host

    async def _ensure_path(self) -> tuple[Path, str, int]:
        c = self.config
        if not self._peer_ips:  # resolved here, off the loop's thread (a sendto to a name would block)
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(c.host, c.port, family=socket.AF_INET,
                                                                     type=socket.SOCK_DGRAM)
            except (OSError, UnicodeError, ValueError) as exc:
                raise LinkLost(f"cannot resolve {c.host}: {exc}") from exc
            self._peer_ips = list(dict.fromkeys(info[4][0] for info in infos))
        addr = (self._peer_ips[0], c.port)
        if c.transport == "udp":
            self._path = self._path or Path("UDP", lambda data: self._udp_send(addr, data))
            return self._path, self.local_host, self.udp_port
        if self._tcp is None:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*addr), c.timeout_s)
            except (OSError, TimeoutError) as exc:
                raise LinkLost(f"cannot connect to {c.host}:{c.port} over TCP: {exc}") from exc
            self._tcp, self._tcp_closed = (reader, writer), asyncio.Event()

            def send(data: bytes) -> None:
                if not writer.is_closing():
                    writer.write(data)

            self._path = Path("TCP", send)
            self._tcp_reader = asyncio.get_running_loop().create_task(self._read_tcp(reader, send, addr))
        return self._path, self.local_host, self._tcp[1].get_extra_info("sockname")[1]

    async def _read_tcp(self, reader: asyncio.StreamReader, send, addr) -> None:
        framer = sip.StreamFramer(1 << 20)
        try:
            while data := await reader.read(65536):
                for msg in framer.feed(data):
                    try:
                        self._deliver(msg, addr, "TCP", send)
                    except Exception:
                        log.exception("upper platform %s: handling %s failed", self.config.upper_id,
                                      msg.method or msg.status)
        except (ConnectionError, sip.SipParseError) as exc:
            log.warning("upper platform %s: TCP read: %s", self.config.upper_id, exc)
        finally:
            self._tcp_closed.set()

    async def _close_tcp(self) -> None:
        if self._tcp is not None:
            self._tcp[1].close()
            self._tcp = None
            self._path = None
        if self._tcp_reader is not None:
            self._tcp_reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._tcp_reader
            self._tcp_reader = None

    def _new(self, method: str, uri: str, to: str, via_port: int, path: Path, *, call_id: str | None = None,
             from_tag: str | None = None, headers=(), body: bytes = b"") -> sip.SipMessage:
        c = self.config
        self._cseq += 1
        msg = sip.SipMessage(method=method, uri=uri)
        msg.headers = [
            ("Via", f"SIP/2.0/{path.transport} {self.local_host}:{via_port};rport;branch={sip.new_branch()}"),
            ("From", f"<sip:{c.local_id}@{c.local_domain}>;tag={from_tag or sip.new_tag()}"),
            ("To", to),
            ("Call-ID", call_id or f"{secrets.token_hex(8)}@{self.local_host}"),
            ("CSeq", f"{self._cseq} {method}"),
            ("Max-Forwards", "70"),
            ("User-Agent", "SharpEyes"),
            *headers,
        ]
        msg.body = body
        return msg

    async def _register(self, expires: int) -> int:
        """REGISTER (answering one or two challenges); the granted expiry. Raises LinkLost."""
        c = self.config
        path, host, port = await self._ensure_path()
        uri = f"sip:{c.upper_id}@{c.domain}"
        contact_port = self.udp_port if path.transport == "UDP" else self.tcp_port
        me = f"<sip:{c.local_id}@{c.local_domain}>"
        for _ in range(3):
            auth = []
            if self._challenge is not None:
                ch = self._challenge
                self._nc += 1
                auth = [("Authorization", digest.authorization(
                    c.local_id, ch.get("realm", c.domain), c.password, ch.get("nonce", ""), uri,
                    qop="auth" in ch.get("qop", "").lower().split(","), nc=f"{self._nc:08x}"))]
            msg = self._new("REGISTER", uri, me, port, path, call_id=self.call_id, from_tag=self.from_tag,
                            headers=[("Contact", f"<sip:{c.local_id}@{host}:{contact_port}>"),
                                     ("Expires", str(expires)), *auth])
            resp = await self._request(path, msg, c.timeout_s)
            if resp is None:
                raise LinkLost(f"REGISTER unanswered by {c.host}:{c.port} ({c.transport})")
            if resp.status == 401 and resp.get("WWW-Authenticate"):
                fresh = digest.parse_authorization(resp.get("WWW-Authenticate") or "")
                if auth and self._challenge and fresh.get("nonce") == self._challenge.get("nonce") \
                        and fresh.get("stale", "").lower() != "true":
                    raise LinkLost("401 Unauthorized: the upper platform refused the password")
                self._challenge, self._nc = fresh, 0
                continue
            if resp.status == 200:
                granted = _int(resp.get("Expires"))
                return granted if granted is not None and granted > 0 else expires
            raise LinkLost(f"REGISTER refused: {resp.status} {resp.reason}")
        raise LinkLost("401 Unauthorized: the upper platform refused the password")

    async def message(self, body: bytes, timeout_s: float | None = None) -> sip.SipMessage | None:
        """A MANSCDP MESSAGE to the upper (keepalive, catalog answers): its final answer, None if unanswered."""
        c = self.config
        path, _, port = await self._ensure_path()
        to = f"<sip:{c.upper_id}@{c.domain}>"
        msg = self._new("MESSAGE", f"sip:{c.upper_id}@{c.domain}", to, port, path,
                        headers=[("Content-Type", MANSCDP)], body=body)
        wait = timeout_s if timeout_s is not None else min(c.timeout_s, max(1.0, c.keepalive_s))
        return await self._request(path, msg, wait)

    async def in_dialog(self, method: str, uri: str, local: str, remote: str, call_id: str, headers=(),
                        body: bytes = b"", timeout_s: float | None = None) -> sip.SipMessage | None:
        """A request inside a dialog the upper opened (BYE of its INVITE, NOTIFY of its SUBSCRIBE):
        ``local`` is our From (with our tag), ``remote`` its To; the final answer, None if unanswered."""
        path, _, port = await self._ensure_path()
        self._cseq += 1
        msg = sip.SipMessage(method=method, uri=uri)
        msg.headers = [
            ("Via", f"SIP/2.0/{path.transport} {self.local_host}:{port};rport;branch={sip.new_branch()}"),
            ("From", local), ("To", remote), ("Call-ID", call_id), ("CSeq", f"{self._cseq} {method}"),
            ("Max-Forwards", "70"), ("User-Agent", "SharpEyes"), *headers,
        ]
        msg.body = body
        return await self._request(path, msg, timeout_s or self.config.timeout_s)


def _int(raw: str | None) -> int | None:
    try:
        return int((raw or "").strip())
    except ValueError:
        return None
