"""Domain errors: raised by pure logic and services, mapped to HTTP statuses in one place (api/errors.py)."""


class DomainError(Exception):
    """Base class. ``code`` is a stable machine-readable key; the message is for people."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    code = "invalid_input"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"


class Unavailable(DomainError):
    """Temporarily unable (e.g. the database is away): the client should retry."""

    code = "unavailable"
