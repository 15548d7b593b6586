"""Glue between serving and learning: start the right loop for the deployment.

Embedded (no Redis): the learner runs as a task inside ``serve`` and updates
this process's router in place. Redis: the learner is its own process
(``autoroute learner``) and a snapshot reloader keeps this router current.
Both are stopped by the lifespan's exit stack, learner first, then the store.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from bandit.router import Router
from service.metrics import Metrics
from service.settings import Settings
from service.store.base import Store

logger = logging.getLogger(__name__)


async def start_learning(
    settings: Settings, store: Store, router: Router, metrics: Metrics, stack: AsyncExitStack
) -> None:
    """Start the in-process learner (embedded) or the snapshot reloader (Redis)."""
    logger.warning("learning loop not wired yet: decisions and rewards are logged only")
