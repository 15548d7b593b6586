"""The error tree: classification, stable kinds, safe messages."""

from __future__ import annotations

import pytest

from providers import errors
from providers.fallback import AllProvidersFailed, StreamInterrupted


def all_subclasses(cls: type[errors.ProviderError]) -> set[type[errors.ProviderError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


def test_every_error_has_a_distinct_kind() -> None:
    classes = all_subclasses(errors.ProviderError)
    kinds = [cls.kind for cls in classes]

    assert {AllProvidersFailed, StreamInterrupted} <= classes
    assert len(kinds) == len(set(kinds))
    assert all(kind.replace("_", "").isalpha() and kind.islower() for kind in kinds)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, errors.ServerError),
        (502, errors.ServerError),
        (529, errors.ServerError),
        (504, errors.ProviderTimeout),
        (408, errors.ProviderTimeout),
        (429, errors.RateLimited),
        (400, errors.InvalidRequest),
        (413, errors.InvalidRequest),
        (422, errors.InvalidRequest),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDenied),
        (404, errors.UnknownModel),
    ],
)
def test_status_mapping(status: int, expected: type[errors.ProviderError]) -> None:
    error = errors.error_for_status(status, "boom", model="m", provider="p", retry_after=3)

    assert type(error) is expected
    assert (error.model, error.provider, error.status) == ("m", "p", status)


def test_rate_limited_keeps_retry_after() -> None:
    error = errors.error_for_status(429, "slow down", retry_after=12.5)

    assert isinstance(error, errors.RateLimited)
    assert error.retry_after == 12.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 0.5 ", 0.5),
        (None, None),
        ("", None),
        ("-3", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert errors.parse_retry_after(value) == expected


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-abcdEFGH1234",
        "sk-ant-api03-xyzXYZ",
        "AIzaSyA1234567890abcdefgh",
        "Bearer abc.def-ghi",
        "x" * 48,
    ],
)
def test_safe_message_redacts_key_shapes(secret: str) -> None:
    message = errors.safe_message(f"Incorrect API key provided: {secret}. Check it.")

    assert secret not in message
    assert "[redacted]" in message
    assert message.startswith("Incorrect API key provided")


def test_safe_message_truncates_and_flattens_whitespace() -> None:
    message = errors.safe_message("line one\n\n   line two " + "a " * 500)

    assert message.startswith("line one line two")
    assert len(message) <= 300


def test_str_names_provider_model_and_status() -> None:
    error = errors.ServerError(
        "Overloaded", model="claude-sonnet-4", provider="anthropic", status=529
    )

    assert str(error) == "anthropic/claude-sonnet-4: Overloaded (HTTP 529)"
