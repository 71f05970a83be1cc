"""Which database failures mean "this data cannot be written" (retried once, then bisected or given up)
and which mean "the database is unreachable" (retried for as long as it takes)."""

from __future__ import annotations

# SQLSTATE classes that mean "this data cannot be written", not "the database is unreachable".
_DATA_ERROR_CLASSES = ("22", "23", "42", "0A", "21")


def _sqlstate(exc: BaseException) -> str | None:
    for e in (exc, getattr(exc, "orig", None), exc.__cause__):
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


def is_data_error(exc: BaseException) -> bool:
    state = _sqlstate(exc)
    return state is not None and state[:2] in _DATA_ERROR_CLASSES
