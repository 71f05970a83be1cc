"""HLS playlists relayed without revealing their origin: every URI in them (variant and media playlists,
segments, init sections, keys, parts, preload hints, rendition reports) is replaced by one the platform
serves, so a player never learns where the stream really comes from (RFC 8216 and its LL-HLS tags)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin

_URI_ATTR = re.compile(r'URI="([^"]*)"')


def rewrite(playlist: str, base_url: str, relay: Callable[[str], str]) -> str:
    """``relay(absolute origin URL) → platform URL`` for each URI line and each ``URI="…"`` attribute;
    relative URIs are resolved against ``base_url`` (the playlist's own URL, after redirects)."""
    if not playlist.lstrip("\ufeff").startswith("#EXTM3U"):
        raise ValueError("not an HLS playlist (no #EXTM3U)")
    out = []
    for line in playlist.splitlines():
        s = line.strip()
        if not s:
            out.append("")
        elif s.startswith("#"):
            out.append(_URI_ATTR.sub(lambda m: f'URI="{relay(urljoin(base_url, m.group(1)))}"', s))
        else:
            out.append(relay(urljoin(base_url, s)))
    return "\n".join(out) + "\n"


def is_playlist(url: str, content_type: str | None) -> bool:
    ct = (content_type or "").split(";")[0].strip().lower()
    return ct in ("application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl") \
        or url.split("?")[0].lower().endswith(".m3u8")
