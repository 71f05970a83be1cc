"""SQL filters for an access scope: division-prefix ORs (index: text_pattern_ops) and secrecy."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, true

from app.domain.access import Scope


def division_filter(column, scope: Scope) -> ColumnElement[bool]:
    if scope.empty:
        return false()
    if scope.everywhere:
        return true()
    return or_(*(column.like(f"{p}%") for p in scope.prefixes))
