"""In-process token buckets per client address (login, ingest). A proxy in front may add its own."""

from __future__ import annotations

import time

from fastapi import Request

from app.api.deps import client_ip
from app.domain.errors import DomainError


class TooManyRequests(DomainError):
    code = "rate_limited"


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst or per_minute)
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory under an address-spraying flood
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True


def limit(name: str):
    """Dependency: the limiter ``app.state.limiters[name]`` for the client's address."""

    async def _check(request: Request) -> None:
        # The same address the audit records: X-Forwarded-For counts only from a configured proxy, so a
        # client cannot get a fresh bucket per request by sending the header.
        host = client_ip(request) or "?"
        if not request.app.state.limiters[name].allow(host):
            raise TooManyRequests(f"too many {name} requests; slow down")

    return _check
