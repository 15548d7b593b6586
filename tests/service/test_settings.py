"""Settings: the AUTOROUTE_ environment, and validators that say what to set."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.app import create_app
from service.settings import Settings, parse_api_keys
from tests.service.conftest import SettingsFactory, app_of
from tests.utils.fake_upstream import FakeUpstream


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTOROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTOROUTE_API_KEYS", "k1:team-a, k2:team-b")
    monkeypatch.setenv("AUTOROUTE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("AUTOROUTE_OPENAI_API_KEY", "sk-secret-value")
    monkeypatch.setenv("AUTOROUTE_REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.static_keys == {"k1": "team-a", "k2": "team-b"}
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert set(settings.provider_keys) == {"openai"}
    assert "sk-secret-value" not in repr(settings)
    assert not settings.embedded


def test_defaults_are_embedded_and_closed() -> None:
    settings = make()
    assert settings.embedded and settings.cors_origins == [] and settings.static_keys == {}


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        ({"api_keys": "justakey"}, "AUTOROUTE_API_KEYS"),
        ({"redis_url": "http://localhost"}, "AUTOROUTE_REDIS_URL"),
        ({"catalog": "/no/such/catalog.yaml"}, "AUTOROUTE_CATALOG"),
        ({"admin_token": "short"}, "AUTOROUTE_ADMIN_TOKEN"),
        ({"gate_warmup_samples": 50, "gate_established_samples": 10}, "ESTABLISHED"),
        (
            {"fallback_attempt_timeout_s": 30, "fallback_total_timeout_s": 5},
            "AUTOROUTE_FALLBACK_TOTAL_TIMEOUT_S",
        ),
    ],
)
def test_bad_values_fail_fast_saying_what_to_set(values: dict[str, object], hint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make(**values)
    assert hint in str(caught.value)


def test_parse_api_keys_keeps_colons_in_keys() -> None:
    assert parse_api_keys("a:b:acct,,x:y") == {"a:b": "acct", "x": "y"}


def test_gating_settings_reach_the_router(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    settings = make_settings(
        gate_warmup_samples=3, gate_established_samples=30, gate_max_account_weight=0.5
    )
    with TestClient(create_app(settings)) as client:
        config = app_of(client).state.router.config
    assert (config.warmup_samples, config.established_samples) == (3, 30)
    assert config.max_account_weight == 0.5
