"""Decision latency and memory per cached account of the learning core.

Decision latency is what the router adds to a request before calling upstream:
``extract_features`` on a ~500-token prompt plus a gated ``Router.decide``
(exactly what ``ChatPipeline.plan`` runs; until 2026-12-03 this bench also
computed a lexical sketch, which the service never does: ~90 us of the figure)
(global and account predictions, blend, sampling) for an established account,
with 8 and with 20 models. The bench account has ~40 rewards per model, so
VW's weight n / (n + vw_shrinkage) is below ``vw_min_weight`` and the router
answers from its running means without a VW predict; the ``decision (VW
asked)`` rows force the predict (``vw_min_weight=0``), which is the cost once
a context has thousands of rewards. The baseline, measured in the same run, is a bare
VW ``predict`` of one fixed ADF example with the same number of actions: the
floor any VW-based router pays. The ratio says how much our code adds on top.

Memory per cached account: create 1,000 account policies in an
:class:`bandit.accounts.AccountCache` and divide the RSS growth by 1,000;
compared with a few VW workspaces created with default options (~9 MiB each
because of the preallocated example queue).

Run: ``.venv/bin/python -m bench.bench_decision``.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from vowpalwabbit import Workspace

from bandit.accounts import AccountCache
from bandit.config import BanditConfig
from bandit.features import extract_features
from bandit.featurizer import to_vw
from bandit.policy import vw_args
from bandit.router import Router
from providers.base import Message
from providers.catalog import ModelSpec

_PROMPT = (
    "Here is a function that parses our billing export and totals the amounts per "
    "customer. It is slow on large files and sometimes double counts refunds.\n"
    "```python\ndef totals(rows):\n    out = {}\n    for r in rows:\n"
    "        out[r.customer] = out.get(r.customer, 0) + r.amount\n    return out\n```\n"
) * 6 + "Explain the bug with refunds and rewrite it to stream the file in one pass."
_ROUNDS = 2000
_ACCOUNTS = 1000
_DEFAULT_WORKSPACES = 20


def _models(count: int) -> list[ModelSpec]:
    rng = random.Random(count)
    return [
        ModelSpec(
            f"model-{i}",
            f"provider-{i % 4}",
            f"upstream-{i}",
            rng.choice([0.1, 0.5, 2.5, 10.0]),
            rng.choice([0.4, 1.5, 10.0, 30.0]),
            tier=1 + i % 3,
            latency_ms=rng.choice([300.0, 800.0, 2000.0]),
        )
        for i in range(count)
    ]


def _percentiles(fn: Callable[[], object], rounds: int) -> dict[str, float]:
    for _ in range(50):
        fn()
    samples = []
    gc.disable()
    try:
        for _ in range(rounds):
            start = time.perf_counter_ns()
            fn()
            samples.append((time.perf_counter_ns() - start) / 1000.0)
    finally:
        gc.enable()
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_us": round(cuts[49], 1), "p99_us": round(cuts[98], 1)}


def _trained_router(models: list[ModelSpec], config: BanditConfig) -> Router:
    router = Router(models, config, random.Random(0))
    features = extract_features([Message("user", _PROMPT)])
    ids = [m.id for m in models]
    for i in range(300):  # an established account with data on several models
        chosen = ids[i % len(ids)]
        router.learn("bench", features, "auto", ids, chosen, 0.5, (i % 7) / 7)
    return router


def decision_latency(count: int) -> dict[str, Any]:
    """p50/p99 of features + gated decide, and of a bare VW predict, for ``count`` models."""
    models = _models(count)
    router = _trained_router(models, BanditConfig())
    asking = _trained_router(models, BanditConfig(vw_min_weight=0.0))
    messages = [Message("user", _PROMPT)]

    def decide(on: Router) -> Callable[[], object]:
        # What the service does per request (ChatPipeline.plan): features, then a
        # gated decide. No lexical sketch: the service does not compute one (it
        # would enter VW only as a shared linear term, the same for every model).
        def run() -> object:
            return on.decide("bench", extract_features(messages), "auto")

        return run

    fixed = to_vw(extract_features(messages), "auto", models)
    bare = Workspace(vw_args(BanditConfig()))
    decision = _percentiles(decide(router), _ROUNDS)
    with_vw = _percentiles(decide(asking), _ROUNDS)
    baseline = _percentiles(lambda: bare.predict(fixed), _ROUNDS)
    bare.finish()
    assert router.stage("bench") == "established"
    return {
        "decision": decision,
        "decision_vw_asked": with_vw,
        "bare_vw_predict": baseline,
        "ratio_p50": round(decision["p50_us"] / baseline["p50_us"], 1),
        "ratio_vw_asked_p50": round(with_vw["p50_us"] / baseline["p50_us"], 1),
    }


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory_per_account() -> dict[str, float]:
    """MiB RSS per cached account policy, and per default-options VW workspace."""
    gc.collect()
    before = _rss_mib()
    cache = AccountCache(BanditConfig(max_accounts=_ACCOUNTS))
    for i in range(_ACCOUNTS):
        cache.get_or_create(f"account-{i}")
    ours = (_rss_mib() - before) / _ACCOUNTS
    for name in list(cache):
        cache.drop(name)
    gc.collect()
    before = _rss_mib()
    default = [Workspace("--cb_adf --quiet") for _ in range(_DEFAULT_WORKSPACES)]
    theirs = (_rss_mib() - before) / _DEFAULT_WORKSPACES
    for ws in default:
        ws.finish()
    return {
        "mib_per_cached_account": round(ours, 3),
        "mib_per_default_workspace": round(theirs, 3),
    }


def run() -> dict[str, Any]:
    """Measure everything; the dict carries ``rows`` for ``python -m bench``."""
    latency = {f"{n}_models": decision_latency(n) for n in (8, 20)}
    memory = memory_per_account()
    rows: list[dict[str, Any]] = []
    for key, value in latency.items():
        for part in ("decision", "decision_vw_asked", "bare_vw_predict"):
            for stat in ("p50_us", "p99_us"):
                rows.append({"measure": f"{part} {stat} ({key})", "value": value[part][stat]})
        rows.append({"measure": f"decision/bare p50 ({key})", "value": value["ratio_p50"]})
        ratio = value["ratio_vw_asked_p50"]
        rows.append({"measure": f"decision_vw_asked/bare p50 ({key})", "value": ratio})
    rows.append({"measure": "MiB per cached account", "value": memory["mib_per_cached_account"]})
    rows.append(
        {"measure": "MiB per default VW workspace", "value": memory["mib_per_default_workspace"]}
    )
    return {"latency": latency, "memory": memory, "rows": rows}


if __name__ == "__main__":
    for row in run()["rows"]:
        print(f"{row['measure']:<40} {row['value']}")
