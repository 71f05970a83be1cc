"""The platform serves every camera stream itself: it fetches the origin (camera or media server) with the
camera's credentials, server-side only, and hands the browser the bytes, never the address.

MJPEG and HTTP-FLV are one long response each, passed through as it comes; HLS playlists are rewritten
(``app.domain.hls``) so that sub-playlists and segments come through the platform too."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from app.domain.errors import Unavailable

CONNECT_S = 10.0
READ_S = 30.0  # a live stream that sends nothing for this long is over
CHUNK = 64 * 1024
MAX_PLAYLIST = 2 * 1024 * 1024


class CameraAuth(httpx.Auth):
    """The credentials of a ``http://user:pw@host/…`` stream URL, as the origin asks for them: Digest (most
    IP cameras) or Basic. Nothing is sent before the origin challenges, so an open origin never sees them."""

    def __init__(self, user: str, password: str) -> None:
        self.basic = httpx.BasicAuth(user, password)
        self.digest = httpx.DigestAuth(user, password)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401:
            return
        scheme = response.headers.get("www-authenticate", "").split(" ", 1)[0].lower()
        yield from (self.digest if scheme == "digest" else self.basic).auth_flow(request)


def split_credentials(url: str) -> tuple[str, CameraAuth | None]:
    """The URL without its userinfo, and the credentials it carried (used server-side only)."""
    u = urlsplit(url)
    if u.username is None:
        return url, None
    host = u.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{u.port}" if u.port else "")
    return urlunsplit(u._replace(netloc=netloc)), CameraAuth(unquote(u.username), unquote(u.password or ""))


def keep_credentials(url: str, original: str) -> str:
    """``url`` (where the origin led, e.g. a segment or session resource) with ``original``'s credentials
    if it is on the same host: they stay attached server-side, never shown."""
    u, src = urlsplit(url), urlsplit(original)
    if src.username is None or u.username is not None or (u.hostname, u.port) != (src.hostname, src.port):
        return url
    return urlunsplit(u._replace(netloc=src.netloc))


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(READ_S, connect=CONNECT_S), follow_redirects=True,
                             max_redirects=3, trust_env=False)


@dataclass
class Upstream:
    content_type: str
    body: AsyncIterator[bytes]


async def open_stream(url: str) -> Upstream:
    """Connect and read the origin's headers now (an unreachable or refusing origin is a clear 503 before
    any byte is sent); the body then streams until the origin or the viewer stops."""
    clean, auth = split_credentials(url)
    client = _client()
    try:
        r = await client.send(client.build_request("GET", clean), auth=auth, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise Unavailable(f"camera stream unreachable: {type(exc).__name__}") from exc
    if r.status_code != 200:
        await r.aclose()
        await client.aclose()
        raise Unavailable(f"camera stream refused ({r.status_code})")

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in r.aiter_raw(CHUNK):
                yield chunk
        except httpx.HTTPError:
            return  # the origin stopped: the viewer's stream ends
        finally:
            await r.aclose()
            await client.aclose()

    return Upstream(r.headers.get("content-type", "application/octet-stream"), body())


async def fetch_playlist(url: str) -> tuple[str, str]:
    """An HLS playlist's text and its final URL (relative URIs resolve against it)."""
    clean, auth = split_credentials(url)
    try:
        async with _client() as client:
            r = await client.get(clean, auth=auth)
    except httpx.HTTPError as exc:
        raise Unavailable(f"camera stream unreachable: {type(exc).__name__}") from exc
    if r.status_code != 200:
        raise Unavailable(f"camera stream refused ({r.status_code})")
    if len(r.content) > MAX_PLAYLIST:
        raise Unavailable("camera playlist too large")
    return r.text, keep_credentials(str(r.url), url)


async def whep_offer(url: str, offer: bytes) -> tuple[bytes, str | None]:
    """POST an SDP offer to a WHEP endpoint: the answer and the session resource's absolute URL (with the
    endpoint's credentials, to delete it later), if the server named one."""
    clean, auth = split_credentials(url)
    try:
        async with httpx.AsyncClient(timeout=CONNECT_S, trust_env=False) as client:
            r = await client.post(clean, content=offer, auth=auth, headers={"Content-Type": "application/sdp"})
    except httpx.HTTPError as exc:
        raise Unavailable(f"media server unreachable: {type(exc).__name__}") from exc
    if r.status_code not in (200, 201):
        raise Unavailable(f"media server refused the offer ({r.status_code})")
    loc = r.headers.get("location")
    return r.content, keep_credentials(str(r.url.join(loc)), url) if loc else None


async def whep_delete(resource: str) -> None:
    """End a WHEP session at the media server (RFC 9725 §4.3): the media stops flowing to the browser."""
    clean, auth = split_credentials(resource)
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=CONNECT_S, trust_env=False) as client:
            await client.delete(clean, auth=auth)
