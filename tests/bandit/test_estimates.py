"""Hierarchical quality means along a context path."""

from __future__ import annotations

import pytest

from bandit.estimates import QualityStats


def test_mean_falls_back_then_follows_data() -> None:
    stats = QualityStats()
    assert stats.mean("m", ("code",), fallback=0.6, strength=2.0) == pytest.approx(0.6)
    for _ in range(100):
        stats.observe("m", ("code", "cx1"), 1.0)
    assert stats.mean("m", ("code", "cx1"), fallback=0.6, strength=2.0) > 0.98
    # A new context starts from the closest known level, not from the fallback.
    assert stats.mean("m", ("code", "cx3"), fallback=0.6, strength=2.0) > 0.98
    assert stats.mean("m", ("math",), fallback=0.6, strength=2.0) > 0.95
    assert stats.count("m") == stats.count("m", ("code",)) == 100
    assert stats.count("m", ("code", "cx3")) == stats.count("m", ("math",)) == 0


def test_state_round_trip() -> None:
    stats = QualityStats()
    stats.observe("m", ("code",), 0.25)
    clone = QualityStats.from_state(stats.state())
    assert clone == stats
