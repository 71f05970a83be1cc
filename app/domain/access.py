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


# GB/T 28181 ``Secrecy`` levels go 0 (open) up to this; a platform administrator holds all of them.
TOP_SECRECY = 9


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


@dataclass(frozen=True, slots=True, order=True)
class Rule:
    """One grant's reach for one permission: a division subtree ('' = everywhere) up to a secrecy level."""

    prefix: str
    max_secrecy: int

    def covers(self, division: str | None, secrecy: int) -> bool:
        if secrecy > self.max_secrecy:
            return False
        if not self.prefix:
            return True
        return division is not None and division.ljust(12, "0").startswith(self.prefix)


def _minimal(rules: set[Rule]) -> tuple[Rule, ...]:
    """Drop every rule another one implies (a wider subtree with at least its secrecy): fewer OR terms."""
    return tuple(sorted(r for r in rules if not any(
        o != r and r.prefix.startswith(o.prefix) and o.max_secrecy >= r.max_secrecy for o in rules)))


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a permission holds now: a set of rules, each a division subtree with its own secrecy ceiling.

    Secrecy is per rule: a secrecy-2 grant in one division opens nothing secret in another division
    the user holds at secrecy 0 (the highest level is never spread over every grant)."""

    rules: tuple[Rule, ...]
    expires: datetime | None  # earliest end of the grants in use (a live feed re-checks then)

    @staticmethod
    def of(rules: set[Rule] | list[Rule] | tuple[Rule, ...], expires: datetime | None = None) -> Scope:
        return Scope(_minimal(set(rules)), expires)

    @staticmethod
    def everywhere_up_to(max_secrecy: int) -> Scope:
        """The whole platform up to a secrecy level: system-side reads and tests, never a user's request."""
        return Scope((Rule("", max_secrecy),), None)

    @staticmethod
    def within(prefixes, max_secrecy: int = 0) -> Scope:
        """Division subtrees (prefixes, '' = everywhere) at one secrecy level."""
        return Scope.of({Rule(p, max_secrecy) for p in prefixes})

    @property
    def key(self) -> tuple[Rule, ...]:
        """Hashable identity: two scopes with the same key see the same objects (caches, feed groups)."""
        return self.rules

    @property
    def empty(self) -> bool:
        return not self.rules

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The division subtrees, whatever the secrecy: for objects that carry none (units, incidents)."""
        ps = {r.prefix for r in self.rules}
        return tuple(sorted(p for p in ps if not any(p != q and p.startswith(q) for q in ps)))

    @property
    def everywhere(self) -> bool:
        return any(not r.prefix for r in self.rules)

    @property
    def uniform_secrecy(self) -> int | None:
        """The one ceiling all rules share, or None when they differ (then SQL needs a term per rule)."""
        levels = {r.max_secrecy for r in self.rules}
        return levels.pop() if len(levels) == 1 else None

    def covers(self, division: str | None, secrecy: int = 0) -> bool:
        return any(r.covers(division, secrecy) for r in self.rules)

    def secrecy_at(self, division: str | None) -> int:
        """The highest secrecy this scope opens in ``division``; -1 where it opens nothing."""
        return max((r.max_secrecy for r in self.rules if r.covers(division, r.max_secrecy)), default=-1)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    grants: tuple[GrantScope, ...] = field(default_factory=tuple)

    def scope_for(self, perm: Perm | str, at: datetime) -> Scope:
        rules: set[Rule] = set()
        ends: list[datetime] = []
        for g in self.grants:
            if not g.active(at) or perm not in ROLES.get(g.role, ("", "", frozenset()))[2]:
                continue
            rules.add(Rule(division_code.subtree_prefix(g.division), g.max_secrecy))
            if g.valid_until is not None:
                ends.append(g.valid_until)
        return Scope.of(rules, min(ends) if ends else None)

    def can(self, perm: Perm | str, at: datetime, division: str | None = None, secrecy: int = 0) -> bool:
        scope = self.scope_for(perm, at)
        if division is None and secrecy == 0:
            return not scope.empty
        return scope.covers(division, secrecy)

    def permissions(self, at: datetime) -> set[str]:
        return {str(p) for g in self.grants if g.active(at) for p in ROLES.get(g.role, ("", "", frozenset()))[2]}
