"""``autoroute replay DIR``: replay a benchmark folder through the real router.

Each prompt goes through the same code as live traffic: ``extract_features``
(plus the lexical sketch), the featurizer, the global and account policies,
gating and our exploration. The router then sees **only the chosen model's**
recorded score (as the quality reward) and cost (bandit feedback), optionally
``--delay K`` requests late. Items are dealt round-robin to ``--accounts N``
accounts. ``--warm-start DIR`` streams another folder first; the results cover
the evaluated folder only. Utility is ``score - cost_usd / W``.

Stream order: the folders are sorted by source task, while live traffic
interleaves kinds of prompts, so each folder is streamed in a random order
drawn from ``--seed`` (independent of the router's own RNG); ``--in-order``
keeps the file order, which turns the run into a test of adaptation to three
abrupt shifts. Baselines are computed on the same stream: the best fixed
model with hindsight (overall, and its utility on the final quarter), random
choice (the mean over models) and the per-item oracle.

Figures with the shipped ``BanditConfig`` (mean utility, final quarter in
parentheses; ``python -m bandit.replay DIR --wtp W --seed S``). The
acceptance check is the final quarter against the best fixed model's (W = 0.01,
0.001) and 97% of its overall utility (W = inf):

=================  =====  ===============  ===============  ===============  ====================
set                W      seed 1           seed 2           seed 3           best fixed (overall)
=================  =====  ===============  ===============  ===============  ====================
routerbench_train  inf    0.855 (0.888)    0.860 (0.873)    0.835 (0.861)    0.879 gpt-4-1106
routerbench_train  0.01   0.744 (0.808)    0.759 (0.778)    0.726 (0.761)    0.738 Yi-34B
routerbench_train  0.001  0.485 (0.486)    0.475 (0.519)    0.488 (0.525)    0.500 mistral-7b
zeroeval           inf    0.925 (0.941)    0.916 (0.942)    0.926 (0.951)    0.937 o1-mini
zeroeval           0.01   0.845 (0.866)    0.853 (0.866)    0.849 (0.875)    0.861 o1-mini
zeroeval           0.001  0.613 (0.616)    0.610 (0.639)    0.608 (0.622)    0.619 deepseek-v2.5
=================  =====  ===============  ===============  ===============  ====================

``python -m bandit.replay_sweep`` runs every (set, W, seed) and totals the
misses and margins: seeds 1-6, 9 misses, summed margin +0.192, worst -0.023
(seeds 7-12: 12, +0.075, -0.053; seeds 1-36: 66 of 216, +0.781, -0.113).
Most misses are near-ties the data cannot resolve (``--by-type`` prints the final
quarter per query type: picks and each type's share of the margin): on zeroeval at W = 0.001,
deepseek-v2.5 and gpt-4o-mini differ by 0.0003 per request in both query
types, so whether the final quarter beats the best fixed model is a coin flip
(seed 1 routes 709 of its 710 final-quarter requests to deepseek; the one
exploratory pick, Llama-3.1-70B on "math", is the whole -0.0003); on
routerbench at W = 0.001 the router sometimes under-samples mistral-7b on
"reasoning" after an unlucky start (7 calls, estimate 0.37 against 0.56) and
stays on mixtral, and seed 1 matches mistral-7b on "analysis" and "reasoning"
but sends "code" to WizardLM-13B (+0.0008 over mistral-7b) where mixtral or
code-llama would gain ~0.01: four late exploratory picks cost -0.0011. On
zeroeval the router's final quarter is often exactly the best fixed model's
(it routes everything to it): the GSM8K/MATH split within "math" that could
beat it was not learned (complexity buckets as a context level measured
worse, see ``BanditConfig.context_levels``).

Run ``python -m bandit.replay DIR --wtp 0.01 --seed 1`` (or ``autoroute replay``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import random
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any

from bandit.config import BanditConfig
from bandit.features import extract_features
from bandit.replay_data import ReplaySet, load_replay_set
from bandit.replay_report import (
    baselines,
    final_quarter_by_type,
    format_by_type,
    format_table,
    model_utilities,
    plot,
    utility,
)
from bandit.router import Router
from bandit.sketch import lexical_sketch
from bandit.types import STRATEGIES, PromptFeatures, Strategy
from providers.base import Message


@dataclasses.dataclass(slots=True)
class _Pending:
    account: str
    features: PromptFeatures
    actions: list[str]
    chosen: str
    probability: float
    score: float
    cost: float


@functools.lru_cache(maxsize=16384)
def featurize(prompt: str) -> PromptFeatures:
    """Prompt features as the service computes them, plus the lexical sketch.

    Cached (features are a pure, frozen function of the prompt): a sweep replays
    the same prompts once per (W, seed).
    """
    features = extract_features([Message(role="user", content=prompt)])
    if not features.sketch:
        features = dataclasses.replace(features, sketch=lexical_sketch(prompt))
    return features


class _Progress:
    """A minimal progress bar on stderr (no dependency, silent when disabled)."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self._total, self._label, self._enabled = total, label, enabled
        self._shown = -1

    def update(self, done: int) -> None:
        if not self._enabled:
            return
        percent = 100 * done // max(1, self._total)
        if percent != self._shown:
            self._shown = percent
            bar = "#" * (percent // 4)
            sys.stderr.write(f"\r{self._label} [{bar:<25}] {done}/{self._total}")
            if done >= self._total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _stream(
    router: Router,
    data: ReplaySet,
    *,
    wtp: float,
    strategy: Strategy,
    accounts: int,
    delay: int,
    progress: bool,
) -> tuple[list[float], list[float], list[float], list[str]]:
    """Replay one folder; return per-item utility, score, cost and model of the router's picks."""
    chosen: list[str] = []
    utilities: list[float] = []
    scores: list[float] = []
    costs: list[float] = []
    pending: deque[_Pending] = deque()
    bar = _Progress(len(data.items), data.name, progress)
    for t, item in enumerate(data.items):
        account = f"acct-{t % accounts}"
        features = featurize(item.prompt)
        outcomes = data.outcomes[item.item_id]
        actions = [m.id for m in data.models if m.id in outcomes]
        decision = router.decide(account, features, strategy, actions, wtp=wtp)
        score, cost = outcomes[decision.chosen]
        chosen.append(decision.chosen)
        utilities.append(utility(score, cost, wtp))
        scores.append(score)
        costs.append(cost)
        pending.append(
            _Pending(account, features, actions, decision.chosen, decision.probability, score, cost)
        )
        while len(pending) > delay:
            _learn(router, pending.popleft(), strategy)
        bar.update(t + 1)
    while pending:
        _learn(router, pending.popleft(), strategy)
    return utilities, scores, costs, chosen


def _learn(router: Router, event: _Pending, strategy: Strategy) -> None:
    router.learn(
        event.account,
        event.features,
        strategy,
        event.actions,
        event.chosen,
        event.probability,
        min(1.0, max(0.0, event.score)),
        cost_usd=event.cost,
    )


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def run_replay(
    folder: str,
    *,
    wtp: float = math.inf,
    strategy: Strategy = "auto",
    seed: int = 1,
    accounts: int = 1,
    warm_start: str | None = None,
    delay: int = 0,
    config: BanditConfig | None = None,
    progress: bool = False,
    plot_path: str | None = None,
    in_order: bool = False,
) -> dict[str, Any]:
    """Replay ``folder`` through a fresh router and score it against baselines.

    Unless ``in_order``, each folder is streamed in a random order drawn from
    ``seed``: the files are sorted by source task, and live traffic interleaves
    kinds of prompts. Returns the result dict written by ``--json``.
    """
    data = load_replay_set(folder)
    warm = load_replay_set(warm_start) if warm_start else None
    return replay_set(
        data,
        wtp=wtp,
        strategy=strategy,
        seed=seed,
        accounts=accounts,
        warm=warm,
        delay=delay,
        config=config,
        progress=progress,
        plot_path=plot_path,
        in_order=in_order,
    )


def replay_set(
    data: ReplaySet,
    *,
    wtp: float = math.inf,
    strategy: Strategy = "auto",
    seed: int = 1,
    accounts: int = 1,
    warm: ReplaySet | None = None,
    delay: int = 0,
    config: BanditConfig | None = None,
    progress: bool = False,
    plot_path: str | None = None,
    in_order: bool = False,
) -> dict[str, Any]:
    """:func:`run_replay` on a set already in memory (the sweep loads each folder once)."""
    if wtp <= 0 or accounts < 1 or delay < 0:
        raise ValueError("need wtp > 0, accounts >= 1 and delay >= 0")
    if not in_order:
        data = shuffled(data, seed)
        warm = shuffled(warm, seed) if warm is not None else None
    models = {m.id: m for m in (warm.models if warm else ())} | {m.id: m for m in data.models}
    router = Router(list(models.values()), config or BanditConfig(), random.Random(seed))  # noqa: S311
    options: dict[str, Any] = {
        "wtp": wtp,
        "strategy": strategy,
        "accounts": accounts,
        "delay": delay,
        "progress": progress,
    }
    if warm is not None:
        _stream(router, warm, **options)
    utilities, scores, costs, chosen = _stream(router, data, **options)
    per_model = model_utilities(data, wtp)
    base = baselines(per_model)
    by_type = final_quarter_by_type(
        [featurize(item.prompt).query_type for item in data.items],
        utilities,
        chosen,
        base["_series"]["best_fixed"],
        per_model,
    )
    series = base.pop("_series")
    quarter = slice(3 * len(utilities) // 4, len(utilities))
    result: dict[str, Any] = {
        "set": data.name,
        "items": len(data.items),
        "wtp": wtp,
        "strategy": strategy,
        "seed": seed,
        "accounts": accounts,
        "delay": delay,
        "warm_start": warm.name if warm else None,
        "order": "file" if in_order else "shuffled",
        "router": {
            "utility": _mean(utilities),
            "score": _mean(scores),
            "cost_usd": _mean(costs),
            "final_quarter_utility": _mean(utilities[quarter]),
        },
        "baselines": base,
        "final_quarter_by_type": by_type,
    }
    if plot_path:
        title = f"{data.name}, W={wtp}, seed {seed}"
        plot({"router": utilities, **series}, plot_path, title)
    return result


def shuffled(data: ReplaySet, seed: int) -> ReplaySet:
    """``data`` with its items in a seeded random order (independent of the router's RNG)."""
    items = list(data.items)
    random.Random(f"replay-order:{seed}").shuffle(items)  # noqa: S311 (simulation)
    return dataclasses.replace(data, items=tuple(items))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoroute replay", description="Replay a benchmark folder through the router."
    )
    parser.add_argument("dir", metavar="DIR", help="folder with items/outcomes/models.csv")
    parser.add_argument("--wtp", type=float, default=math.inf, help="USD per unit of quality")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=1, metavar="N")
    parser.add_argument("--warm-start", metavar="DIR", default=None)
    parser.add_argument("--delay", type=int, default=0, metavar="K")
    parser.add_argument("--json", metavar="OUT", default=None)
    parser.add_argument("--plot", metavar="OUT.png", default=None)
    parser.add_argument(
        "--in-order", action="store_true", help="stream items in file order (no shuffle)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--by-type",
        action="store_true",
        help="also print the final quarter per query type: picks and margin share",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``autoroute replay`` and ``python -m bandit.replay``."""
    args = _parser().parse_args(argv)
    try:
        result = run_replay(
            args.dir,
            wtp=args.wtp,
            strategy=args.strategy,
            seed=args.seed,
            accounts=args.accounts,
            warm_start=args.warm_start,
            delay=args.delay,
            progress=not args.no_progress,
            plot_path=args.plot,
            in_order=args.in_order,
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"autoroute replay: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.by_type:
        print(format_by_type(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, allow_nan=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
