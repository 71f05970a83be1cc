"""Plate search patterns: what a dispatcher types (``京A1*``, ``京A12?45``) as a SQL ``LIKE`` pattern. Pure.

``*`` is any run of characters, ``?`` exactly one; the ``LIKE`` metacharacters a plate could hold are
escaped (``ESCAPE '\\'``). A pattern needs at least ``MIN_KNOWN`` known characters: a search is about one
vehicle, not a dump of every pass."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from app.domain.errors import InvalidInput

MIN_KNOWN = 3
MAX_LEN = 16
MAX_WINDOW = timedelta(days=93)
# Letters, digits, the CJK block (province abbreviations, 警 学 挂 领 港 澳 使…), the wildcards.
_ALLOWED = re.compile(r"^[0-9A-Z\u4e00-\u9fff*?·-]+$")


def normalise(plate: str) -> str:
    return re.sub(r"\s+", "", plate or "").upper()


def like_pattern(plate: str) -> str:
    q = normalise(plate)
    if not q or len(q) > MAX_LEN:
        raise InvalidInput(f"plate: 1 to {MAX_LEN} characters", field="plate")
    if not _ALLOWED.match(q):
        raise InvalidInput("plate: letters, digits, Chinese characters and the wildcards * ?", field="plate")
    if sum(c not in "*?" for c in q) < MIN_KNOWN:
        raise InvalidInput(f"plate: at least {MIN_KNOWN} known characters", field="plate")
    out = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return re.sub(r"\*+", "%", out).replace("?", "_")


def check_window(since: datetime, until: datetime) -> None:
    if until <= since:
        raise InvalidInput("until must be after since", field="until")
    if until - since > MAX_WINDOW:
        raise InvalidInput(f"the time window is at most {MAX_WINDOW.days} days", field="since")
