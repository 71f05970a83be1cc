"""The pieces every schema module shares: strict request bodies, open response models, list envelopes, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, model_validator

T = TypeVar("T")

# A timestamp written as Python's isoformat ("+00:00"), as the API always wrote it (pydantic would write "Z").
Instant = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Patch(Strict):
    """A partial update: a field may be left out, but only ``NULLABLE`` fields may be set to null."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self):
        bad = sorted(k for k in self.model_fields_set if getattr(self, k) is None and k not in self.NULLABLE)
        if bad:
            raise ValueError(f"may not be null: {', '.join(bad)}")
        return self


class Public(BaseModel):
    """A response: the fields a client relies on are declared and checked; columns a service adds later
    pass through (documented as additional properties) rather than being cut silently."""

    model_config = ConfigDict(extra="allow")


class ListPublic(Public, Generic[T]):
    count: int
    items: list[T]


class Created(BaseModel):
    id: int | str


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# Documented on every operation: what a client can get back besides success.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    # ``content`` names JSON explicitly: errors are JSON even on routes that answer HTML or files.
    s: {"model": ErrorBody, "description": d, "content": {"application/json": {}}} for s, d in {
        400: "bad request (e.g. a device report that cannot be decoded)", 401: "not authenticated",
        403: "not permitted", 503: "temporarily unavailable (e.g. storage down; retry)",
        404: "not found (or not visible to you)",
        409: "conflicts with existing data", 413: "request too large", 422: "invalid input",
        423: "account locked", 429: "rate limited"}.items()
}
