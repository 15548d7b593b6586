"""``autoroute learner`` (also ``python -m service.learner``): one learner process.

Examples::

    autoroute learner --redis-url redis://127.0.0.1:6379/0               # all shards
    autoroute learner --shards 0,1 --consumer learner-a                  # split shards
    autoroute learner --shards 2,3 --consumer learner-b --no-global      # never own global

Every process of a deployment must agree on ``--shard-count`` (the API's
store uses the same number). SIGTERM or SIGINT commits and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from bandit.config import BanditConfig
from bandit.router import Router
from providers.catalog import load_catalog
from service.learner import Learner, LearnerConfig
from service.learner_rewards import RewardRules
from service.metrics import Metrics, serve_metrics
from service.store.redis_store import RedisStore

logger = logging.getLogger(__name__)


def _shard_list(raw: str) -> tuple[int, ...] | str | None:
    if raw in ("", "all"):
        return None
    if raw == "auto":
        return "auto"
    return tuple(int(part) for part in raw.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    """The learner's command line."""
    env = os.environ.get
    p = argparse.ArgumentParser(prog="autoroute learner", description=__doc__.split("\n")[0])
    p.add_argument("--redis-url", default=env("AUTOROUTE_REDIS_URL"), help="Redis URL")
    p.add_argument(
        "--shard-count",
        type=int,
        default=int(env("AUTOROUTE_SHARDS", "4")),
        help="reward shards, same as the API's AUTOROUTE_SHARDS (default: that variable, or 4)",
    )
    p.add_argument("--cluster", action="store_true", help="Redis is a Redis Cluster")
    p.add_argument(
        "--shards",
        type=_shard_list,
        default=None,
        help="e.g. 0,1; 'auto' shares all shards with the other live learners (default: all)",
    )
    p.add_argument("--consumer", default=f"learner-{socket.gethostname()}")
    p.add_argument("--no-global", action="store_true", help="never own the global policy")
    p.add_argument("--snapshot-interval", type=float, default=0.5, help="seconds")
    p.add_argument(
        "--reward-window", type=float, default=float(env("AUTOROUTE_REWARD_WINDOW_S", "3600"))
    )
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--claim-idle-ms", type=int, default=30_000)
    p.add_argument("--lease-ttl-ms", type=int, default=10_000)
    p.add_argument("--max-deliveries", type=int, default=5)
    p.add_argument("--catalog", type=Path, default=env("AUTOROUTE_CATALOG"))
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--metrics-port", type=int, default=None, help="serve /metrics here")
    p.add_argument("--metrics-host", default="127.0.0.1", help="its address (0.0.0.0: all)")
    return p


async def run_learner(
    redis_url: str,
    *,
    shard_count: int = 4,
    config: LearnerConfig | None = None,
    catalog: Path | None = None,
    seed: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    cluster: bool = False,
) -> None:
    """Run a learner against ``redis_url`` until SIGTERM/SIGINT.

    Args:
        redis_url: the deployment's Redis.
        shard_count: total number of reward shards (same as the API's store).
        config: which shards, consumer name, cadences (see :class:`LearnerConfig`).
        catalog: model catalog file (``AUTOROUTE_CATALOG``); shipped one if ``None``.
        seed: seed of the router's RNG (the learner never samples; kept for parity).
        metrics_port: serve Prometheus ``/metrics`` on this port (``None``: off).
        metrics_host: the address it binds (``0.0.0.0`` in a container).
        cluster: ``redis_url`` is a Redis Cluster (see ``docs/scale-out.md``).
    """
    store = RedisStore.from_url(redis_url, shards=shard_count, cluster=cluster)
    models = load_catalog(catalog).models
    router = Router(models, BanditConfig(), random.Random(seed))  # noqa: S311 - not crypto
    metrics = Metrics()
    server = None
    if metrics_port is not None:
        server = serve_metrics(metrics, metrics_port, metrics_host)[0]
    learner = Learner(store, router, config, metrics=metrics)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, learner.stop)
    logger.info("learner %s serving shards %s", learner.owner, config.shards if config else "all")
    try:
        await learner.run()
    finally:
        await store.close()
        if server is not None:
            server.shutdown()
        metrics.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the learner; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not args.redis_url:
        print("autoroute learner needs Redis: set AUTOROUTE_REDIS_URL or pass --redis-url")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = LearnerConfig(
        shards=None if args.shards == "auto" else args.shards,
        balance=args.shards == "auto",
        consumer=args.consumer,
        global_policy=not args.no_global,
        rules=RewardRules(reward_window_s=args.reward_window),
        snapshot_interval_s=args.snapshot_interval,
        batch_size=args.batch_size,
        claim_idle_ms=args.claim_idle_ms,
        lease_ttl_ms=args.lease_ttl_ms,
        max_deliveries=args.max_deliveries,
    )
    asyncio.run(
        run_learner(
            args.redis_url,
            shard_count=args.shard_count,
            config=config,
            catalog=args.catalog,
            seed=args.seed,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            cluster=args.cluster,
        )
    )
    return 0
