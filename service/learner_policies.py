"""The learner's side of the router: learn updates, load and export account policies.

Kept apart from the loop so the learner reads as stream logic; everything
that touches VW (through :class:`bandit.router.Router`) goes through here.
"""

from __future__ import annotations

import logging
from typing import cast

from bandit.router import Router, Scope
from bandit.types import PromptFeatures, Strategy
from service.learner_rewards import Update
from service.store.base import Store, account_key

logger = logging.getLogger(__name__)


class Policies:
    """Applies :class:`Update`\\ s to a router and moves account policies in and out."""

    def __init__(self, store: Store, router: Router) -> None:
        self._store = store
        self.router = router

    def learn(self, update: Update, scope: Scope) -> None:
        """One ``Router.learn`` per repeat; the cost calibrates the global policy only."""
        features = PromptFeatures(**update.features)
        for _ in range(update.repeats):
            self.router.learn(
                update.account,
                features,
                cast(Strategy, update.strategy),
                update.actions,
                update.chosen,
                update.probability,
                update.quality,
                cost_usd=None if scope == "account" else update.cost_usd,
                scope=scope,
            )

    def learn_global(self, update: Update) -> None:
        """A forwarded update, into the global policy only."""
        self.learn(update, "global")

    async def ensure_accounts(self, accounts: set[str]) -> None:
        """Load committed snapshots of accounts this router does not hold yet."""
        cached = set(self.router.cached_accounts())
        missing = sorted(a for a in accounts if a not in cached)
        if not missing:
            return
        found = await self._store.get_snapshots([account_key(a) for a in missing])
        for account in missing:
            snap = found.get(account_key(account))
            if snap is not None:
                self.router.load_account(account, snap[1], str(snap[0]))

    def export(self, touched: set[str], resets: set[str]) -> dict[str, bytes | None]:
        """Snapshots to commit: a blob per touched account, ``None`` for a reset one."""
        snapshots: dict[str, bytes | None] = {}
        for account in touched:
            blob = self.router.export_account(account)
            if blob is None and account not in resets:
                # evicted from the LRU before its commit; raise max_accounts or
                # lower max_touched_accounts if this shows up
                logger.warning("account %s left the cache before its commit", account)
                continue
            snapshots[account] = blob
        return snapshots

    def forget(self, accounts: set[str]) -> None:
        """Drop uncommitted learning; the next touch reloads the committed snapshot."""
        for account in accounts:
            self.router.reset_account(account)
