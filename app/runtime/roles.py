"""Process roles: which parts of the platform a process runs (``sharpeyes serve --role``, ``SHARPEYES_ROLE``).

One table, read by ``Runtime.running`` and the API's wiring. ``all`` is the single process of a small
deployment; ``api`` and ``ingest`` split it over processes and hosts that share PostgreSQL and the Redis bus
(``Settings`` refuses a split role without ``REDIS_URL``).

- ``http``: the API's routes and pages (an ``ingest`` process answers ``/api/v1/health`` only).
- ``hub``: the websocket hub (live map, incidents).
- ``jt808``: the JT/T 808 TCP listener (``SO_REUSEPORT``: several ingest processes share one port).
- ``sip``: the GB/T 28181 SIP server, with what depends on it: cascade links to upper platforms, the
  recordings sweep, GB video. One per host and port: it is the devices' single registrar address.

Every role stores positions (writer and pipeline): the API's OsmAnd and batch reports are HTTP.
"""

from __future__ import annotations

from typing import Literal

Part = Literal["http", "hub", "jt808", "sip"]
Role = Literal["all", "api", "ingest"]

PARTS: dict[str, frozenset[str]] = {
    "all": frozenset({"http", "hub", "jt808", "sip"}),
    "api": frozenset({"http", "hub"}),
    "ingest": frozenset({"jt808", "sip"}),
}


def runs(role: str, part: Part) -> bool:
    return part in PARTS[role]
