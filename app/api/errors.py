"""Domain exceptions → HTTP statuses, in one table (services never raise HTTPException)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.api.ratelimit import TooManyRequests
from app.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unavailable
from app.domain.fix import FixRejected
from app.services.security import AuthError, Locked

log = logging.getLogger(__name__)

STATUS: dict[type[DomainError], int] = {
    FixRejected: 400,  # device protocols answer 400 (Traccar's convention), before its base InvalidInput
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    AuthError: 401,
    Locked: 423,
    TooManyRequests: 429,
    Unavailable: 503,
}


def _body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, **({"field": field} if field else {})}}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError):
        status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {"Retry-After": "5"} if status == 503 else None
        return JSONResponse(_body(exc.code, exc.message, exc.field), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg"))} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        msg = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        return JSONResponse({"error": {"code": "invalid_input", "message": msg, "details": errors}},
                              status_code=422)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError):
        # A unique or foreign-key violation the service did not pre-check (e.g. a race): a conflict.
        log.info("integrity error: %s", exc.orig)
        return JSONResponse(_body("conflict", "conflicts with existing data"), status_code=409)

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError):
        # SQLSTATE class 22 = data exception (NUL byte in text, number out of range…): the client's input.
        state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
        if state.startswith("22") or "invalid input for query argument" in str(exc.orig):
            log.info("data error: %s", exc.orig)
            return JSONResponse(_body("invalid_input", "value not acceptable to the database (e.g. a NUL "
                                      "character or a number out of range)"), status_code=422)
        # The connection died under the request (database restarted or gone; SQLSTATE 08 / 57P0x): 503.
        if exc.connection_invalidated or state.startswith(("08", "57P0")) or isinstance(exc.orig, OSError):
            log.warning("database connection lost: %s", exc.orig)
            return await _domain(request, Unavailable("database unavailable; try again shortly"))
        raise exc
