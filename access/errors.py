"""Authentication errors (part of the one DomainError hierarchy)."""

from __future__ import annotations

from core.errors import DomainError


class Unauthenticated(DomainError):
    """No valid credentials (HTTP 401)."""

    http_status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    """Signed in, but not allowed (HTTP 403)."""

    http_status = 403
    code = "forbidden"


class TooManyRequests(DomainError):
    """Rate limit or lock-out (HTTP 429); ``retry_after`` seconds go into the Retry-After header."""

    http_status = 429
    code = "too_many_requests"

    def __init__(self, message_en: str, message_zh: str, retry_after: int, code: str | None = None) -> None:
        super().__init__(message_en, message_zh, details={"retry_after": retry_after}, code=code)
        self.retry_after = retry_after
