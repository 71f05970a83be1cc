"""Watchlists (布控): which checkpoint passes an entry catches. Pure.

An entry names a plate, exact or a pattern (``*`` any run, ``?`` one character, as the plate search),
optionally a vehicle colour (GA/T 1400 ``VehicleColor`` code), a validity window and an area (division
codes, as GA/T 1400's disposition area): a pass matches when its plate (normalised) matches, its colour
too when the entry names one, the entry is active at the moment of matching, and the pass is filed under
a division inside the area. A pass filed nowhere lies in no area."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain import division_code
from app.domain.errors import InvalidInput
from app.domain.plates import MIN_KNOWN, normalise

MAX_AREA = 50
MAX_VALIDITY = timedelta(days=366)
_PLATE = re.compile(r"^[0-9A-Z\u4e00-\u9fff*?·-]{1,16}$")
_COLOUR = re.compile(r"^[0-9A-Za-z]{1,8}$")


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    plate: str  # normalised, with wildcards
    vehicle_color: str | None
    area: tuple[str, ...]  # division codes
    valid_from: datetime
    valid_until: datetime

    def active(self, at: datetime) -> bool:
        return self.valid_from <= at < self.valid_until


@dataclass(frozen=True, slots=True)
class Pass:
    record_id: str
    plate_no: str | None
    vehicle_color: str | None
    division_code: str | None


def check_plate(plate: str) -> str:
    """The entry's plate, normalised; InvalidInput for what is no plate or too vague a pattern."""
    q = normalise(plate)
    if not _PLATE.match(q):
        raise InvalidInput("plate: 1 to 16 letters, digits, Chinese characters or the wildcards * ?", field="plate")
    if sum(c not in "*?" for c in q) < MIN_KNOWN:
        raise InvalidInput(f"plate: at least {MIN_KNOWN} known characters", field="plate")
    return q


def check_colour(colour: str | None) -> str | None:
    if colour is None or not colour.strip():
        return None
    if not _COLOUR.match(colour.strip()):
        raise InvalidInput("vehicle_color: a GA/T 1400 colour code (letters or digits)", field="vehicle_color")
    return colour.strip().upper()


def check_area(area: Iterable[str]) -> tuple[str, ...]:
    """Canonical, distinct division codes (a code inside another listed one is dropped)."""
    codes = sorted({division_code.canonical(c) for c in area})
    if not codes:
        raise InvalidInput("area: at least one division code", field="area")
    if len(codes) > MAX_AREA:
        raise InvalidInput(f"area: at most {MAX_AREA} division codes", field="area")
    prefixes = {c: division_code.subtree_prefix(c) for c in codes}
    return tuple(c for c in codes if not any(o != c and prefixes[c].startswith(prefixes[o]) for o in codes))


def check_window(valid_from: datetime, valid_until: datetime) -> None:
    if valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from", field="valid_until")
    if valid_until - valid_from > MAX_VALIDITY:
        raise InvalidInput(f"a watchlist entry holds at most {MAX_VALIDITY.days} days", field="valid_until")


def plate_regex(plate: str) -> re.Pattern[str]:
    """The whole plate: ``*`` any run (also empty), ``?`` exactly one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in plate) + r"\Z")


def in_area(division: str | None, area: Iterable[str]) -> bool:
    if not division:
        return False
    full = division.ljust(12, "0")
    return any(full.startswith(division_code.subtree_prefix(a)) for a in area)


class Matcher:
    """Active entries compiled once (a process holds one until the watchlists change)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries = [(e, plate_regex(e.plate)) for e in entries]

    def __len__(self) -> int:
        return len(self.entries)

    def plates(self, p: Pass, at: datetime) -> list[Entry]:
        """Entries whose plate and colour the pass has, active at ``at``; the area is asked separately
        (``in_area``), once the pass's division is known."""
        if not p.plate_no:
            return []
        plate = normalise(p.plate_no)
        colour = (p.vehicle_color or "").upper()
        return [e for e, rx in self.entries if e.active(at) and rx.match(plate)
                and (e.vehicle_color is None or e.vehicle_color == colour)]

    def match(self, p: Pass, at: datetime) -> list[Entry]:
        return [e for e in self.plates(p, at) if in_area(p.division_code, e.area)]
