"""An access scope as SQL: one place for every query (ORM and text), so no path filters differently.

Division prefixes become ``LIKE 'p%'`` ORs (index: text_pattern_ops); where the rules' secrecy
ceilings differ, each prefix carries its own ceiling (``division LIKE 'p%' AND secrecy <= s``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, any_, exists, false, func, not_, or_, true

from app.db.models import Camera
from app.domain.access import Scope


def division_filter(column, scope: Scope) -> ColumnElement[bool]:
    """Rows in the scope's division subtrees, for objects without secrecy (units, incidents, areas)."""
    if scope.empty:
        return false()
    if scope.everywhere:
        return true()
    return or_(*(column.like(f"{p}%") for p in scope.prefixes))


def scope_filter(division, scope: Scope, secrecy=None) -> ColumnElement[bool]:
    """Rows the scope covers; with ``secrecy``, each rule's own ceiling applies in its own subtree."""
    if secrecy is None:
        return division_filter(division, scope)
    if scope.empty:
        return false()
    uniform = scope.uniform_secrecy
    if uniform is not None:
        return and_(division_filter(division, scope), secrecy <= uniform)
    return or_(*(secrecy <= r.max_secrecy if not r.prefix else and_(division.like(f"{r.prefix}%"),
                                                                     secrecy <= r.max_secrecy)
                 for r in scope.rules))


def scope_sql(scope: Scope, division: str, secrecy: str | None = None, *, prefix: str = "sc") -> tuple[str, dict]:
    """``scope_filter`` for text SQL over the given column expressions: (condition, its parameters)."""
    if scope.empty:
        return "FALSE", {}
    params: dict[str, object] = {}
    terms: list[str] = []
    uniform = scope.uniform_secrecy if secrecy else None
    rules = [(p, None) for p in scope.prefixes] if (secrecy is None or uniform is not None) else \
        [(r.prefix, r.max_secrecy) for r in scope.rules]
    for i, (p, level) in enumerate(rules):
        parts = []
        if p:
            params[f"{prefix}_p{i}"] = f"{p}%"
            parts.append(f"{division} LIKE :{prefix}_p{i}")
        if level is not None:
            params[f"{prefix}_s{i}"] = level
            parts.append(f"{secrecy} <= :{prefix}_s{i}")
        terms.append(" AND ".join(parts) or "TRUE")
    cond = "(" + " OR ".join(f"({t})" for t in terms) + ")"
    if uniform is not None:
        params[f"{prefix}_sec"] = uniform
        cond = f"({cond} AND {secrecy} <= :{prefix}_sec)"
    return cond, params


# -- Stored planning figures and secret cameras ----------------------------------------------------------
OPEN = ".open"  # mode suffix of a figure computed from the secrecy-0 cameras only


def figure_sql(scope: Scope | None, alias: str, *, prefix: str = "sf") -> tuple[str, dict]:
    """Which variant of each stored figure (coverage rows, division KPIs) the reader gets, as text SQL.

    The full figure only where the reader may see every secret camera it counts (``secret_ids``, by
    the camera's own division and secrecy), else its open twin: a figure never reveals a camera its
    reader may not know. Exactly one of the two rows passes (no twin: the full row, nothing secret in it).
    Combine with ``mode IN (:m, :m || '.open')``; ``scope`` None (system exports) reads the full figures."""
    if scope is None:
        return f"{alias}.mode NOT LIKE '%{OPEN}'", {}
    seen, params = scope_sql(scope, "fc.division_code", "fc.secrecy", prefix=prefix)
    hidden = (f"(cardinality({alias}.secret_ids) > 0 AND EXISTS (SELECT 1 FROM camera fc"
              f" WHERE fc.id = ANY({alias}.secret_ids) AND NOT {seen}))")
    return f"(({alias}.mode LIKE '%{OPEN}') = {hidden})", params


def figure_filter(table, scope: Scope) -> ColumnElement[bool]:
    """``figure_sql`` for ORM queries over a figure table (``mode``, ``secret_ids`` columns)."""
    hidden = and_(func.cardinality(table.secret_ids) > 0, exists().where(
        Camera.id == any_(table.secret_ids), not_(scope_filter(Camera.division_code, scope, Camera.secrecy))))
    return table.mode.like(f"%{OPEN}") == hidden
