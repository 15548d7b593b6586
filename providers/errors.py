"""Errors raised by providers, translated from each upstream's wire format.

Adapters translate HTTP and ``httpx`` errors at their boundary only, to the
most specific class below. Fallback catches :class:`Retryable` and nothing
wider: a retryable error moves on to the next model, a non-retryable one
fails the request at once.

    ProviderError                      kind (metric label)
    ├── Retryable
    │   ├── ServerError                server_error   5xx, Anthropic 529 "overloaded"
    │   ├── RateLimited                rate_limited   429, carries ``retry_after``
    │   ├── ProviderTimeout            timeout
    │   ├── ConnectionFailed           connection     refused, reset, cut mid-body
    │   └── ProviderUnavailable        unavailable    circuit open, no key configured
    ├── NonRetryable
    │   ├── InvalidRequest             invalid_request
    │   ├── AuthenticationError        authentication
    │   ├── PermissionDenied           permission
    │   ├── UnknownModel               unknown_model
    │   └── ContentPolicy              content_policy
    ├── StreamInterrupted              stream_interrupted   (providers.fallback)
    └── AllProvidersFailed             all_failed           (providers.fallback)

Every error carries the model id, the provider, the HTTP status (if any) and a
*safe* message: upstream text is truncated and anything that looks like an API
key is redacted. Prompt text is never put into an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

_MAX_MESSAGE = 300
# Shapes of secrets that upstream messages are known to echo back (OpenAI's
# "Incorrect API key provided: sk-ab***yz", Google's AIza... keys, bearer tokens).
_SECRET_PATTERNS = (
    re.compile(r"sk-[A-Za-z0-9_\-*]{4,}"),
    re.compile(r"AIza[A-Za-z0-9_\-]{10,}"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-]+"),
    re.compile(r"[A-Za-z0-9_\-]{40,}"),
)


def safe_message(text: str) -> str:
    """Return ``text`` truncated and with key-like substrings redacted."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one model during fallback.

    ``error_kind`` is ``None`` for the attempt that succeeded, else the
    :attr:`ProviderError.kind` of its failure, so the caller can report a low
    reward for the model that failed and set ``X-Autoroute-Attempts``.
    """

    model_id: str
    error_kind: str | None
    latency_ms: float
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None


class ProviderError(Exception):
    """Base of every provider failure.

    Attributes:
        message: Safe, human-readable description (no keys, no prompt text).
        model: Catalog id of the model that failed, if known.
        provider: Provider kind (``openai``, ``anthropic``...), if known.
        status: Upstream HTTP status, if there was one.
        attempts: Filled by fallback when the error ends a fallback run, so the
            caller can still report every attempt made before it.
    """

    kind: ClassVar[str] = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        provider: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = safe_message(message)
        self.model = model
        self.provider = provider
        self.status = status
        self.attempts: tuple[Attempt, ...] = ()
        super().__init__(self.message)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{where}: {self.message}{status}" if where else f"{self.message}{status}"


class Retryable(ProviderError):
    """The request may succeed on another model, or later on this one.

    ``retry_after`` (seconds) is set when the upstream or the breaker says when
    to try again; the circuit breaker honours it.
    """

    kind = "retryable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        model: str | None = None,
        provider: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, model=model, provider=provider, status=status)
        self.retry_after = retry_after


class ServerError(Retryable):
    kind = "server_error"


class RateLimited(Retryable):
    """429. ``retry_after`` (seconds) comes from ``Retry-After`` when sent."""

    kind = "rate_limited"


class ProviderTimeout(Retryable):
    kind = "timeout"


class ConnectionFailed(Retryable):
    kind = "connection"


class ProviderUnavailable(Retryable):
    """Not tried at all: its circuit is open or no key is configured."""

    kind = "unavailable"


class NonRetryable(ProviderError):
    """Another model would fail the same way (or the operator must act)."""

    kind = "non_retryable"


class InvalidRequest(NonRetryable):
    kind = "invalid_request"


class AuthenticationError(NonRetryable):
    kind = "authentication"


class PermissionDenied(NonRetryable):
    kind = "permission"


class UnknownModel(NonRetryable):
    kind = "unknown_model"


class ContentPolicy(NonRetryable):
    kind = "content_policy"


def error_for_status(
    status: int,
    message: str,
    *,
    model: str | None = None,
    provider: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Map a bare HTTP status to the error class it means for every provider.

    Adapters call this last, after checking their provider's error codes for a
    more specific meaning (e.g. a 400 that is really a content-policy refusal).
    """
    if status == 429:
        return RateLimited(
            message, retry_after=retry_after, model=model, provider=provider, status=status
        )
    cls: type[ProviderError]
    if status in (408, 504):
        cls = ProviderTimeout
    elif status >= 500:
        cls = ServerError
    else:
        cls = _NON_RETRYABLE_BY_STATUS.get(status, InvalidRequest)
    return cls(message, model=model, provider=provider, status=status)


_NON_RETRYABLE_BY_STATUS: dict[int, type[NonRetryable]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: UnknownModel,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds; ``None`` otherwise.

    The HTTP-date form is rare from LLM APIs and ignored on purpose: a wrong
    clock would turn it into a huge or negative cooldown.
    """
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
