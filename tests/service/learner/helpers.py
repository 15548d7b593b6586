"""Helpers shared by the learner tests."""

from __future__ import annotations

from bandit.router import Router
from bandit.serialization import unpack
from service.learner import Learner, LearnerConfig
from service.store.base import Store


def global_count(blob: bytes) -> int:
    """Rewards the global policy in an exported blob has learned (its header's count)."""
    header = unpack(blob)[0]
    if "updates" in header:
        return int(header["updates"])
    return int(header["counts"]["*"])


def account_count(router: Router, account: str, blob: bytes) -> int:
    """Rewards an exported account policy has learned, read through ``router``."""
    router.load_account(account, blob, "0")
    return router.account_samples(account)["*"]


def learner(store: Store, router: Router, **overrides: object) -> Learner:
    """A learner with test-friendly cadences."""
    settings: dict[str, object] = {
        "consumer": "test-learner",
        "lease_ttl_ms": 5_000,
        "snapshot_interval_s": 0.05,
        "max_deliveries": 3,
    }
    settings.update(overrides)
    return Learner(store, router, LearnerConfig(**settings))  # type: ignore[arg-type]
