"""The one configuration object of the service, read from ``AUTOROUTE_*`` variables.

Every knob the API, the learner and ``autoroute serve`` read lives here, so a
test builds its own app with ``create_app(Settings(...))`` and a deployment
configures everything through the environment. Validators fail fast, at
startup, with a message that says which variable to set and how.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_KEY_HINT = "set AUTOROUTE_API_KEYS to comma-separated 'key:account' pairs, e.g. 'sk-abc:team-a'"


def parse_api_keys(raw: str) -> dict[str, str]:
    """Parse ``key:account,key:account`` into ``{key: account}``.

    Raises:
        ValueError: with a message naming the variable, if a pair is malformed.
    """
    keys: dict[str, str] = {}
    for pair in raw.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, sep, account = pair.rpartition(":")
        if not sep or not key.strip() or not account.strip():
            raise ValueError(f"malformed API key entry (no 'key:account'); {_KEY_HINT}")
        keys[key.strip()] = account.strip()
    return keys


class Settings(BaseSettings):
    """Service settings; each field maps to ``AUTOROUTE_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="AUTOROUTE_", extra="ignore")

    # storage and deployment
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset means the embedded in-process store."
    )
    data_dir: Path = Field(
        default=Path(".autoroute"),
        description="Where the embedded store, snapshots, hash secret and default key live.",
    )
    catalog: Path | None = Field(
        default=None, description="YAML model catalog that replaces or extends the shipped one."
    )

    # secrets
    api_keys: SecretStr | None = Field(default=None, description="Static 'key:account,...'.")
    admin_token: SecretStr | None = Field(default=None, description="Bearer token of admin API.")
    hash_secret: SecretStr | None = Field(
        default=None, description="HMAC key for message and API-key hashes; generated if unset."
    )
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    google_api_key: SecretStr | None = None

    # learning
    reward_window_s: float = Field(default=3600.0, gt=0, description="Feedback window, seconds.")
    gate_warmup_samples: int = Field(default=10, ge=0, description="Samples before warm-up.")
    gate_established_samples: int = Field(default=100, ge=1, description="Samples to establish.")
    gate_max_account_weight: float = Field(default=0.85, gt=0, le=1)
    feedback_grace_s: float = Field(
        default=600.0, ge=0, description="How long a late rating still gets 410, not 404."
    )
    seed: int | None = Field(default=None, description="Seed of the routing RNG (tests, demos).")
    learn: bool = Field(default=True, description="False freezes routing: no learning/reloads.")
    shards: int = Field(
        default=4, ge=1, le=1024, description="Reward stream shards; same for API and learners."
    )

    # fallback
    fallback_max_attempts: int = Field(default=3, ge=1, le=10)
    fallback_attempt_timeout_s: float = Field(default=30.0, gt=0)
    fallback_total_timeout_s: float = Field(default=60.0, gt=0)

    # HTTP
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_rps: float = Field(
        default=0.0, ge=0, description="Requests per second per API key; 0 turns limits off."
    )
    rate_limit_burst: int = Field(default=100, ge=1, description="Requests a key may burst.")
    fast_lane: bool = Field(
        default=True,
        description="Serve the two chat endpoints without FastAPI's per-request machinery.",
    )
    gc_freeze: bool = Field(
        default=False,
        description="Freeze startup's objects out of garbage collection (autoroute serve: on).",
    )
    shutdown_timeout_s: int = Field(
        default=30, ge=1, description="On SIGTERM: seconds in-flight requests may take to finish."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_api_keys(value.get_secret_value())
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                "AUTOROUTE_REDIS_URL must start with redis://, rediss:// or unix:// "
                "(unset it to use the embedded store)"
            )
        return value or None

    @field_validator("catalog")
    @classmethod
    def _check_catalog(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(
                f"AUTOROUTE_CATALOG={value} is not a file; point it at a YAML catalog or unset it"
            )
        return value

    @field_validator("admin_token", "hash_secret")
    @classmethod
    def _check_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("AUTOROUTE_ADMIN_TOKEN/AUTOROUTE_HASH_SECRET need >= 16 characters")
        return value

    @model_validator(mode="after")
    def _check_ordering(self) -> Settings:
        if self.gate_established_samples <= self.gate_warmup_samples:
            raise ValueError(
                "AUTOROUTE_GATE_ESTABLISHED_SAMPLES must exceed AUTOROUTE_GATE_WARMUP_SAMPLES"
            )
        if self.fallback_total_timeout_s < self.fallback_attempt_timeout_s:
            raise ValueError(
                "AUTOROUTE_FALLBACK_TOTAL_TIMEOUT_S must be >= AUTOROUTE_FALLBACK_ATTEMPT_TIMEOUT_S"
            )
        return self

    @property
    def static_keys(self) -> dict[str, str]:
        """Static keys from ``AUTOROUTE_API_KEYS`` as ``{key: account}``."""
        if self.api_keys is None:
            return {}
        return parse_api_keys(self.api_keys.get_secret_value())

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: store and learner run in-process."""
        return self.redis_url is None

    @property
    def provider_keys(self) -> dict[str, SecretStr]:
        """The configured upstream keys by provider kind (empty means simulated only)."""
        keys = {
            "openai": self.openai_api_key,
            "anthropic": self.anthropic_api_key,
            "google": self.google_api_key,
        }
        return {name: key for name, key in keys.items() if key is not None}
