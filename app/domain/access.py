"""Who may see what (全程可控): roles, permissions, grants scoped by division subtree, time and secrecy.

Pure logic: the API builds a ``Principal`` from the user's grants once per request and every
resource query asks it for the scope (``scope_for``) — one place for REST, tiles, websocket, video
and exports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from app.domain import division_code


class Perm(StrEnum):
    VIEW_MAP = "view_map"
    VIEW_LIVE = "view_live"
    VIEW_RECORDINGS = "view_recordings"
    PTZ = "ptz"
    DISPATCH = "dispatch"
    PLAN = "plan"
    MANAGE_DEVICES = "manage_devices"
    MANAGE_USERS = "manage_users"
    READ_AUDIT = "read_audit"
    REPORT_POSITION = "report_position"


ROLES: dict[str, tuple[str, str, frozenset[Perm]]] = {
    "admin": ("系统管理员", "Administrator", frozenset(Perm)),
    "commander": ("指挥长", "Commander", frozenset({Perm.VIEW_MAP, Perm.VIEW_LIVE, Perm.VIEW_RECORDINGS, Perm.PTZ})),
    "dispatcher": ("调度员", "Dispatcher",
                   frozenset({Perm.VIEW_MAP, Perm.VIEW_LIVE, Perm.VIEW_RECORDINGS, Perm.PTZ, Perm.DISPATCH})),
    "planner": ("规划员", "Planner", frozenset({Perm.VIEW_MAP, Perm.PLAN})),
    "officer": ("民警", "Field officer", frozenset({Perm.VIEW_MAP, Perm.VIEW_LIVE, Perm.REPORT_POSITION})),
    "auditor": ("审计员", "Auditor", frozenset({Perm.READ_AUDIT})),
}


@dataclass(frozen=True, slots=True)
class GrantScope:
    role: str
    division: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    max_secrecy: int = 0

    def active(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a permission holds now: division prefixes ('' = everywhere) and the highest secrecy."""

    prefixes: tuple[str, ...]
    max_secrecy: int
    expires: datetime | None  # earliest end of the grants in use (a live feed re-checks then)

    @property
    def empty(self) -> bool:
        return not self.prefixes

    @property
    def everywhere(self) -> bool:
        return "" in self.prefixes

    def covers(self, division: str | None, secrecy: int = 0) -> bool:
        if self.empty or secrecy > self.max_secrecy:
            return False
        if self.everywhere:
            return True
        if division is None:
            return False
        full = division.ljust(12, "0")
        return any(full.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    grants: tuple[GrantScope, ...] = field(default_factory=tuple)

    def scope_for(self, perm: Perm | str, at: datetime) -> Scope:
        prefixes: set[str] = set()
        secrecy = -1
        ends: list[datetime] = []
        for g in self.grants:
            if not g.active(at) or perm not in ROLES.get(g.role, ("", "", frozenset()))[2]:
                continue
            prefixes.add(division_code.subtree_prefix(g.division))
            secrecy = max(secrecy, g.max_secrecy)
            if g.valid_until is not None:
                ends.append(g.valid_until)
        # Drop prefixes already implied by a shorter one: fewer OR terms in SQL.
        kept = tuple(sorted(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes)))
        return Scope(kept, secrecy, min(ends) if ends else None)

    def can(self, perm: Perm | str, at: datetime, division: str | None = None, secrecy: int = 0) -> bool:
        scope = self.scope_for(perm, at)
        if division is None and secrecy == 0:
            return not scope.empty
        return scope.covers(division, secrecy)

    def permissions(self, at: datetime) -> set[str]:
        return {str(p) for g in self.grants if g.active(at) for p in ROLES.get(g.role, ("", "", frozenset()))[2]}
