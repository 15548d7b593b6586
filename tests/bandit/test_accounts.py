"""The account LRU: lazy creation, eviction by count and by memory, persistence."""

from __future__ import annotations

from bandit.accounts import AccountCache
from bandit.config import BanditConfig


def test_lru_evicts_least_recently_used_and_calls_hook() -> None:
    evicted: dict[str, bytes] = {}
    cache = AccountCache(BanditConfig(max_accounts=2), on_evict=evicted.__setitem__)
    cache.get_or_create("a").observe("m", ("code",), 1.0)
    cache.get_or_create("b")
    assert cache.get("a") is not None  # touch a: b becomes the oldest
    cache.get_or_create("c")
    assert sorted(cache) == ["a", "c"] and list(evicted) == ["b"]


def test_memory_cap_bounds_capacity() -> None:
    cfg = BanditConfig(max_accounts=1000, account_cache_mib=10.0, account_mib_estimate=2.5)
    assert AccountCache(cfg).capacity == 4


def test_exported_state_loads_back() -> None:
    cache = AccountCache(BanditConfig())
    state = cache.get_or_create("a")
    state.observe("m", ("code",), 1.0)
    other = AccountCache(BanditConfig())
    other.load("a", state.to_bytes())
    loaded = other.get("a")
    assert loaded is not None
    assert loaded.counts == {"*": 1, "m": 1} and loaded.stats == state.stats
    other.drop("a")
    assert other.get("a") is None and len(other) == 0


def test_account_policies_use_account_bits_and_keep_them_through_a_round_trip() -> None:
    # Fewer bits make an account's export cheaper (VW's save scans every weight).
    cache = AccountCache(BanditConfig(bits=18, account_bits=14))
    state = cache.get_or_create("a")
    assert state.policy.num_weights() == 2**14
    cache.load("b", state.to_bytes())
    loaded = cache.get("b")
    assert loaded is not None and loaded.policy.num_weights() == 2**14
