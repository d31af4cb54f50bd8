"""Domain errors mapped to HTTP, in one table.

Routes never raise ``HTTPException``: they let the core's ``LedgerError`` subclasses (and the
API's own ``AuthenticationError`` / ``PermissionDeniedError``) propagate, and the handlers
below turn each into a status code and a JSON body::

    {"error": {"type": "rule_violation", "message": "...", "rule_id": "QTY-CONSERVATION"}}

Anything not in the table is a bug: it becomes a 500 with a generic body, and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import (
    ConflictError,
    LedgerError,
    MalformedInputError,
    NotFoundError,
    RuleViolation,
    SignatureError,
    StorageError,
    VerificationError,
)

log = logging.getLogger("lotproof.api")


class ApiError(Exception):
    """Root of the errors the API raises itself (not from the core)."""


class AuthenticationError(ApiError):
    """No credentials, or credentials that do not authenticate (401)."""


class PermissionDeniedError(ApiError):
    """An authenticated caller asking for something it may not read or do (403)."""


class PayloadTooLargeError(ApiError):
    """A request body or batch beyond the configured limits (413)."""


class ServiceUnavailableError(ApiError):
    """A component the request needs is not configured or not reachable (503)."""


# (exception class, HTTP status, error type). The first matching row wins, so subclasses
# come before their parents.
ERROR_TABLE: list[tuple[type[Exception], int, str]] = [
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (PayloadTooLargeError, 413, "payload_too_large"),
    (ServiceUnavailableError, 503, "unavailable"),
    (RuleViolation, 422, "rule_violation"),
    (SignatureError, 422, "signature_invalid"),
    (VerificationError, 422, "verification_failed"),
    (MalformedInputError, 400, "malformed_input"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (StorageError, 503, "storage_unavailable"),
    (LedgerError, 400, "ledger_error"),
]


def status_for(exc: Exception) -> tuple[int, str]:
    for cls, status, kind in ERROR_TABLE:
        if isinstance(exc, cls):
            return status, kind
    return 500, "internal"


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    error.update({k: v for k, v in extra.items() if v is not None})
    return {"error": error}


def _response(exc: Exception) -> JSONResponse:
    status, kind = status_for(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, RuleViolation):
        extra["rule_id"] = exc.rule_id
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 500:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body(kind, "internal error"), status_code=500)
    return JSONResponse(error_body(kind, str(exc), **extra), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the table on ``app``, plus JSON bodies for validation and routing errors."""

    def handler_for(cls: type[Exception]) -> Callable[[Request, Exception], Any]:
        async def handle(request: Request, exc: Exception) -> JSONResponse:
            return _response(exc)

        return handle

    for cls, _, _ in ERROR_TABLE:
        app.add_exception_handler(cls, handler_for(cls))

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for err in exc.errors()[:10]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse(
            error_body("malformed_input", "; ".join(problems) or "invalid request"),
            status_code=422,
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(kind, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _response(exc)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
