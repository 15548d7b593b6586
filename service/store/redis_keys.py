"""Key layout of :class:`~service.store.redis_store.RedisStore`.

Every key that one atomic operation touches shares a hash tag, so the layout
works on Redis Cluster:

- ``ar:{shard:<n>}:...`` holds everything the learner commits for shard ``n``
  (the reward stream, its dead letters, the due-for-default set, the applied
  ledger and stats, account snapshots and counts, the forward stream and the
  shard lease). An account's learner state lives in its shard's slot, so one
  ``MULTI`` makes a whole learner batch durable.
- ``ar:{global}:...`` holds the global snapshot and the global lease.
- ``ar:{acct:<id>}:decs`` indexes an account's decisions for deletion.
- ``ar:dec:{<request_id>}``, ``ar:rated:{<request_id>}``, ``ar:key:{<hash>}``
  and ``ar:circuit:{<model>}`` are single keys.
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "learners"


@dataclass(frozen=True, slots=True)
class ShardKeys:
    """The keys of one shard."""

    prefix: str
    shard: int

    def _k(self, name: str) -> str:
        return f"{self.prefix}:{{shard:{self.shard}}}:{name}"

    @property
    def rewards(self) -> str:
        return self._k("rewards")

    @property
    def dead(self) -> str:
        return self._k("dead")

    @property
    def due(self) -> str:
        return self._k("due")

    @property
    def applied(self) -> str:
        return self._k("applied")

    @property
    def stats(self) -> str:
        return self._k("stats")

    @property
    def late(self) -> str:
        return self._k("late")

    @property
    def forward(self) -> str:
        return self._k("fwd")

    @property
    def versions(self) -> str:
        return self._k("versions")

    @property
    def epoch(self) -> str:
        return self._k("epoch")

    @property
    def lease(self) -> str:
        return self._k("lease")

    def snapshot(self, account: str) -> str:
        return self._k(f"snap:{account}")

    def counts(self, account: str) -> str:
        return self._k(f"counts:{account}")


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix."""

    prefix: str = "ar"

    def shard(self, shard: int) -> ShardKeys:
        return ShardKeys(self.prefix, shard)

    @property
    def global_snapshot(self) -> str:
        return f"{self.prefix}:{{global}}:snap"

    @property
    def global_lease(self) -> str:
        return f"{self.prefix}:{{global}}:lease"

    @property
    def members(self) -> str:
        """Live learners (sorted set: token -> expiry of its last heartbeat)."""
        return f"{self.prefix}:{{global}}:members"

    def decision(self, request_id: str) -> str:
        return f"{self.prefix}:dec:{{{request_id}}}"

    def rated(self, request_id: str) -> str:
        return f"{self.prefix}:rated:{{{request_id}}}"

    def account_decisions(self, account: str) -> str:
        return f"{self.prefix}:{{acct:{account}}}:decs"

    def api_key(self, key_hash: str) -> str:
        return f"{self.prefix}:key:{{{key_hash}}}"

    def circuit(self, model: str) -> str:
        return f"{self.prefix}:circuit:{{{model}}}"

    def lease(self, name: str) -> str:
        """``global`` or ``shard:<n>``."""
        if name == "global":
            return self.global_lease
        kind, _, n = name.partition(":")
        if kind != "shard" or not n.isdigit():
            raise ValueError(f"unknown lease {name!r}; use 'global' or 'shard:<n>'")
        return self.shard(int(n)).lease


# Acquire or renew: succeed if the key is free or already ours.
ACQUIRE_LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
