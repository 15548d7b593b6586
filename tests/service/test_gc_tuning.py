"""GC tuning of a serving process: frozen and with a higher gen-0 threshold while it runs."""

from __future__ import annotations

import gc
import os
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import cli
from service.app import create_app
from service.gc_tuning import GEN0_THRESHOLD, frozen_gc
from tests.service.conftest import SettingsFactory, chat
from tests.utils.fake_upstream import FakeUpstream


def test_frozen_gc_freezes_and_restores() -> None:
    before = gc.get_threshold()
    with frozen_gc(12_345):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (12_345, *before[1:])
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_an_app_with_gc_freeze_tunes_only_while_it_runs(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    before = gc.get_threshold()
    with TestClient(create_app(make_settings(gc_freeze=True))) as client:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
        assert chat(client).status_code == 200
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_an_app_leaves_gc_alone_by_default(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    before = gc.get_threshold()
    with TestClient(create_app(make_settings())):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == before


@pytest.mark.parametrize(("preset", "expected"), [(None, "true"), ("false", "false")])
def test_serve_turns_gc_freeze_on_unless_set(
    monkeypatch: pytest.MonkeyPatch, preset: str | None, expected: str
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.delenv("AUTOROUTE_REDIS_URL", raising=False)
    monkeypatch.setenv("AUTOROUTE_GC_FREEZE", preset or "")  # restored after the test
    if preset is None:
        monkeypatch.delenv("AUTOROUTE_GC_FREEZE")
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: seen.update(os.environ))
    assert cli.main(["serve"]) == 0
    assert seen["AUTOROUTE_GC_FREEZE"] == expected
