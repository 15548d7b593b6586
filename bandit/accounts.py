"""Per-account policies, created lazily and kept in an LRU with a memory cap.

Each cached account holds a small VW workspace (``--example_queue_limit`` cuts
it from ~9 MiB to well under 1 MiB; ``bench/bench_decision.py`` measures it)
and its sample counts. The cap is ``min(max_accounts, account_cache_mib /
account_mib_estimate)`` entries; the least recently used account is evicted,
after handing its serialized state to ``on_evict`` so the owner can persist it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from bandit.config import BanditConfig
from bandit.estimates import QualityStats
from bandit.gating import TOTAL_KEY
from bandit.policy import QualityPolicy
from bandit.serialization import pack, unpack

EvictHook = Callable[[str, bytes], None]


@dataclass(slots=True)
class AccountState:
    """One account's policy, reward counts (``"*"`` total + per model) and quality means."""

    policy: QualityPolicy
    counts: dict[str, int] = field(default_factory=lambda: {TOTAL_KEY: 0})
    stats: QualityStats = field(default_factory=QualityStats)

    def observe(self, model: str, context: Sequence[str], quality: float) -> None:
        self.counts[TOTAL_KEY] = self.counts.get(TOTAL_KEY, 0) + 1
        self.counts[model] = self.counts.get(model, 0) + 1
        self.stats.observe(model, context, quality)

    def to_bytes(self) -> bytes:
        header = {"kind": "account", "counts": self.counts, "stats": self.stats.state()}
        return pack(header, self.policy.to_bytes())


class AccountCache:
    """LRU of :class:`AccountState`, bounded by count and by estimated MiB.

    Example:
        >>> from bandit.config import BanditConfig
        >>> cache = AccountCache(BanditConfig(max_accounts=2))
        >>> for name in ("a", "b", "c"):
        ...     _ = cache.get_or_create(name)
        >>> sorted(cache)
        ['b', 'c']
    """

    def __init__(self, config: BanditConfig, on_evict: EvictHook | None = None) -> None:
        self._config = config
        self._on_evict = on_evict
        by_memory = int(config.account_cache_mib / max(config.account_mib_estimate, 1e-6))
        self.capacity = max(1, min(config.max_accounts, by_memory))
        self._items: OrderedDict[str, AccountState] = OrderedDict()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def get(self, account: str) -> AccountState | None:
        """The cached state, marked as recently used; ``None`` if not cached."""
        state = self._items.get(account)
        if state is not None:
            self._items.move_to_end(account)
        return state

    def get_or_create(self, account: str) -> AccountState:
        """The cached state, creating a fresh policy on first use."""
        state = self.get(account)
        if state is None:
            state = AccountState(QualityPolicy(self._config, bits=self._config.account_bits))
            self._put(account, state)
        return state

    def load(self, account: str, blob: bytes) -> None:
        """Install an exported account state (replacing any cached one)."""
        header, model = unpack(blob)
        if header.get("kind") != "account":
            raise ValueError("blob is not an account policy")
        counts = {str(k): int(v) for k, v in dict(header.get("counts", {})).items()}
        counts.setdefault(TOTAL_KEY, 0)
        stats = QualityStats.from_state(dict(header.get("stats", {})))
        policy = QualityPolicy.from_bytes(model, self._config)
        self.drop(account)
        self._put(account, AccountState(policy, counts, stats))

    def drop(self, account: str) -> None:
        """Forget an account entirely (no eviction hook: this is a reset)."""
        state = self._items.pop(account, None)
        if state is not None:
            state.policy.close()

    def _put(self, account: str, state: AccountState) -> None:
        self._items[account] = state
        while len(self._items) > self.capacity:
            name, old = self._items.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict(name, old.to_bytes())
            old.policy.close()
