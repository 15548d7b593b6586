"""Shared fixtures for the deployment tests (promtool, repository paths)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def require_binary(name: str) -> str:
    """Path of ``name``; skip when missing locally, fail in CI (AUTOROUTE_REQUIRE_REDIS=1)."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} not found; install Debian's 'prometheus' package (.ci/run does)"
    if os.environ.get("AUTOROUTE_REQUIRE_REDIS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def promtool() -> str:
    return require_binary("promtool")


@pytest.fixture
def repo() -> Path:
    return REPO
