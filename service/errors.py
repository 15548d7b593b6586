"""The service's error tree and the one handler that renders every error.

::

    ServiceError                      (status, code, message, details)
    ├── InvalidApiKey                 401 invalid_api_key
    ├── AdminUnauthorized             401 unauthenticated
    ├── AdminDisabled                 403 admin_disabled
    ├── ValidationFailed              400 validation_error
    │   ├── EmptyMessages             400 empty_messages
    │   ├── InvalidModel              400 invalid_model
    │   └── InvalidMode               400 invalid_mode
    ├── NotFound                      404 not_found
    ├── AlreadyRated                  409 already_rated
    ├── FeedbackExpired               410 feedback_window_expired
    ├── PayloadTooLarge               413 payload_too_large
    ├── RateLimited                   429 rate_limited
    ├── ContentPolicyViolation        400 content_policy_violation
    ├── UpstreamError                 502 provider_error
    │   ├── UpstreamTimeout           504 provider_timeout
    │   └── AllProvidersFailed        502 all_providers_failed
    └── StoreUnavailable              503 service_unavailable (also any store error)

Codes are the RoutePlex SDK's, so its typed exceptions (``AuthenticationError``,
``ValidationError``, ``ProviderError``, ...) fire unchanged. Provider errors are
translated to this tree at one boundary, :mod:`service.pipeline`.

Two wire shapes exist. The OpenAI-compatible routes (``/v1/...``) answer
``{"error": {"message", "type", "code", "param"}}``, which the ``openai`` SDK
parses into its own exception classes. Everything else answers the RoutePlex
envelope ``{"success": false, "error": {"code", "message", "details"},
"meta": {"request_id", "timestamp"}}``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.store.errors import StoreError

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """Base of every error the API reports to a client."""

    status = 500
    code = "internal_error"

    def __init__(
        self, message: str, *, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class InvalidApiKey(ServiceError):
    status, code = 401, "invalid_api_key"


class AdminUnauthorized(ServiceError):
    status, code = 401, "unauthenticated"


class AdminDisabled(ServiceError):
    status, code = 403, "admin_disabled"


class ValidationFailed(ServiceError):
    status, code = 400, "validation_error"


class EmptyMessages(ValidationFailed):
    code = "empty_messages"


class InvalidModel(ValidationFailed):
    code = "invalid_model"


class InvalidMode(ValidationFailed):
    code = "invalid_mode"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class AlreadyRated(ServiceError):
    status, code = 409, "already_rated"


class FeedbackExpired(ServiceError):
    status, code = 410, "feedback_window_expired"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


class RateLimited(ServiceError):
    status, code = 429, "rate_limited"


class ContentPolicyViolation(ServiceError):
    status, code = 400, "content_policy_violation"


class UpstreamError(ServiceError):
    status, code = 502, "provider_error"


class UpstreamTimeout(UpstreamError):
    status, code = 504, "provider_timeout"


class AllProvidersFailed(UpstreamError):
    status, code = 502, "all_providers_failed"


class StoreUnavailable(ServiceError):
    status, code = 503, "service_unavailable"


_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    410: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}

_HTTP_CODES = {
    400: "validation_error",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def request_id_of(request: Request) -> str:
    """The id the request-id middleware gave this request (or ``""`` outside it)."""
    return str(getattr(request.state, "request_id", ""))


def meta(request_id: str) -> dict[str, Any]:
    """The ``meta`` block of every native envelope."""
    return {"request_id": request_id, "timestamp": time.time()}


def is_openai_path(path: str) -> bool:
    """True for the OpenAI-compatible surface, which gets OpenAI's error shape."""
    return path == "/v1" or path.startswith("/v1/")


def error_body(
    path: str, request_id: str, status: int, code: str, message: str, details: Any
) -> dict[str, Any]:
    """Render one error in the wire shape of the surface ``path`` belongs to."""
    if is_openai_path(path):
        kind = _OPENAI_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": message, "type": kind, "code": code, "param": None}}
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": details},
        "meta": meta(request_id),
    }


def _classify(exc: Exception) -> tuple[int, str, str, Any, dict[str, str]]:
    # FastAPI wraps errors raised while reading the body (our body limit) in a 400.
    cause = exc.__cause__
    if isinstance(exc, HTTPException) and isinstance(cause, ServiceError):
        exc = cause
    if isinstance(exc, ServiceError):
        return exc.status, exc.code, exc.message, exc.details, exc.headers
    if isinstance(exc, StoreError):
        logger.error("store unavailable: %s", type(exc).__name__)
        return 503, StoreUnavailable.code, "storage is unavailable, retry shortly", None, {}
    if isinstance(exc, RequestValidationError):
        details = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        return 400, "validation_error", "request body is invalid", details, {}
    if isinstance(exc, HTTPException):
        code = _HTTP_CODES.get(
            exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error"
        )
        return exc.status_code, code, str(exc.detail), None, dict(exc.headers or {})
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return 500, "internal_error", "internal error", None, {}


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one handler: any error becomes the envelope of the route's surface."""
    status, code, message, details, headers = _classify(exc)
    body = error_body(request.url.path, request_id_of(request), status, code, message, details)
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handler(app: FastAPI) -> None:
    """Register :func:`handle_error` for domain, validation, HTTP and unexpected errors."""
    for exc_class in (ServiceError, StoreError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(exc_class, handle_error)
