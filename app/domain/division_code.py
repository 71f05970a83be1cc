"""GB/T 2260 administrative division codes, extended to six levels.

Levels: 1 central, 2 province (``110000``), 3 city (``110100``), 4 county (``110108``),
5 township (9 digits, ``110108001``), 6 village/community (12 digits, ``110108001001``).
Codes are hierarchical by digit segments, so a subtree is a prefix: that is what ``subtree_prefix``
gives and what indexed ``LIKE 'prefix%'`` queries use.
"""

from __future__ import annotations

import re

from app.domain.errors import InvalidInput

CENTRAL = "000000"
# End offset (in the 12-digit form) of the segment that each level owns.
_SEGMENT_END = {2: 2, 3: 4, 4: 6, 5: 9, 6: 12}
_RE = re.compile(r"^([0-9]{6}|[0-9]{9}|[0-9]{12})$")


def _pad(code: str) -> str:
    if not isinstance(code, str) or not _RE.match(code):
        raise InvalidInput(f"division code must have 6, 9 or 12 digits: {code!r}", field="code")
    return code.ljust(12, "0")


def level(code: str) -> int:
    """Level 1–6 of a code; ``110000`` → 2, ``110108`` → 4, ``110108001001`` → 6."""
    full = _pad(code)
    if full == "0" * 12:
        return 1
    for lvl in (2, 3, 4, 5):
        if full[_SEGMENT_END[lvl] :] == "0" * (12 - _SEGMENT_END[lvl]):
            return lvl
    return 6


def canonical(code: str) -> str:
    """Shortest standard spelling: 6 digits for levels 1–4, 9 for townships, 12 for villages."""
    full = _pad(code)
    lvl = level(code)
    return full[:6] if lvl <= 4 else full[: _SEGMENT_END[lvl]]


def parent(code: str) -> str | None:
    """The code one level up, skipping empty segments (Hong Kong ``810001`` → ``810000``)."""
    lvl = level(code)
    if lvl == 1:
        return None
    if lvl == 2:
        return CENTRAL
    full = _pad(code)
    start = _SEGMENT_END[lvl - 1]
    return canonical(full[:start] + "0" * (12 - start))


def subtree_prefix(code: str) -> str:
    """Prefix shared by the code and all its descendants ('' for central)."""
    lvl = level(code)
    return "" if lvl == 1 else _pad(code)[: _SEGMENT_END[lvl]]


def is_within(code: str, ancestor: str) -> bool:
    """True when ``code`` is ``ancestor`` or one of its descendants."""
    return _pad(code).startswith(subtree_prefix(ancestor))


def validate(code: str) -> str:
    """Canonical code or InvalidInput."""
    return canonical(code)
