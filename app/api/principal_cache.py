"""A short-lived cache of principals: two queries saved on every authenticated request.

Entries live ``ttl`` seconds at most; logout and every grant or user change invalidate the user's
entries at once, so the cache never outlives a revocation made through this process. (Another API
process sees such a change within ``ttl``.)
"""

from __future__ import annotations

import time

from app.domain.access import Principal


class PrincipalCache:
    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[int, int], tuple[float, Principal]] = {}

    def get(self, user_id: int, version: int) -> Principal | None:
        hit = self._entries.get((user_id, version))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, user_id: int, version: int, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[(user_id, version)] = (time.monotonic() + self.ttl, principal)

    def invalidate(self, user_id: int | None = None) -> None:
        if user_id is None:
            self._entries.clear()
        else:
            for key in [k for k in self._entries if k[0] == user_id]:
                self._entries.pop(key, None)
