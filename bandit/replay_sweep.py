"""``python -m bandit.replay_sweep DIR... --seeds 1-6 --wtp inf,0.01,0.001``: the acceptance sweep.

Replays every folder at every willingness to pay ``W`` and every seed through
:func:`bandit.replay.replay_set` (the replay itself, not a second
implementation) and checks issue 2's acceptance on each run:

- finite ``W``: the router's final-quarter utility is at least the best fixed
  model's (chosen with hindsight over the whole stream) on the same quarter,
  and its overall utility is above random; the margin is the final-quarter
  difference;
- ``W = inf``: the router's overall utility is at least 97% of the best fixed
  model's; the margin is ``router - 0.97 * best fixed``.

It prints one row per (set, W, seed), then the miss count and the summed
margins. A miss count alone cannot judge a change: most checks are decided by
a few hundred pass/fail items, and 36 seeds of both sets move the count by
ten or more between settings whose margins differ by nothing measurable.
``--baseline RUNS.json`` (an earlier sweep's ``--json``) therefore pairs each
run with the baseline's run of the same set, W, seed and size and prints the
mean margin difference with its standard error, per set and W and overall:
a change is better only where that difference is several standard errors
above zero. Probes of
robustness on the same data: ``--in-order``, ``--accounts N``, ``--subsample F``
(a seeded random share of the items) and ``--models K`` (a seeded random
sub-catalog of K models per seed); ``--set FIELD=VALUE`` overrides a
:class:`bandit.config.BanditConfig` default, to measure a setting.

Example:
    ``nice -n 10 python -m bandit.replay_sweep /work/shared/data/replay/routerbench_train
    /work/shared/data/replay/zeroeval --seeds 1-6 --wtp inf,0.01,0.001 --jobs 2``
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import random
import statistics
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from bandit.config import BanditConfig
from bandit.replay import replay_set
from bandit.replay_data import ReplaySet, load_replay_set
from bandit.types import STRATEGIES

INF_SHARE = 0.97  # at W = inf the router must reach this share of the best fixed model


@dataclasses.dataclass(frozen=True, slots=True)
class Probe:
    """How each run's stream is drawn (the same for every run of a sweep)."""

    strategy: str = "auto"
    accounts: int = 1
    delay: int = 0
    in_order: bool = False
    subsample: float = 1.0  # share of the items kept, drawn from the seed
    models: int = 0  # random sub-catalog of this many models per seed (0: all)
    config: tuple[tuple[str, str], ...] = ()  # BanditConfig overrides, field -> text


def bandit_config(overrides: Sequence[tuple[str, str]]) -> BanditConfig:
    """A :class:`BanditConfig` with fields overridden from text (``--set field=value``)."""
    fields = {f.name: f for f in dataclasses.fields(BanditConfig)}
    values: dict[str, Any] = {}
    for name, text in overrides:
        if name not in fields:
            raise ValueError(f"BanditConfig has no field {name!r}")
        default = getattr(BanditConfig(), name)
        if isinstance(default, bool):
            values[name] = text.lower() in ("1", "true", "yes")
        elif isinstance(default, int | float) or default is None:
            values[name] = (
                float(text) if default is None or isinstance(default, float) else int(text)
            )
        else:
            values[name] = type(default)(text)
    return BanditConfig(**values)


def check(result: dict[str, Any]) -> tuple[bool, float]:
    """Issue 2's acceptance on one replay result: ``(passed, margin)``."""
    router, base = result["router"], result["baselines"]
    if math.isinf(result["wtp"]):
        margin = router["utility"] - INF_SHARE * base["best_fixed"]["utility"]
        return margin >= 0.0, margin
    margin = router["final_quarter_utility"] - base["best_fixed"]["final_quarter_utility"]
    return margin >= 0.0 and router["utility"] > base["random"]["utility"], margin


def parse_seeds(text: str) -> list[int]:
    """``"1-6"`` or ``"1,3,5"`` (or a mix) into a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        seeds += range(int(low), int(high or low) + 1)
    return seeds


def parse_wtps(text: str) -> list[float]:
    """``"inf,0.01,0.001"`` into floats (``inf`` allowed)."""
    return [float(part) for part in text.split(",")]


@lru_cache(maxsize=8)
def _load(folder: str) -> ReplaySet:
    return load_replay_set(folder)


def probe_set(data: ReplaySet, probe: Probe, seed: int) -> ReplaySet:
    """``data`` restricted as ``probe`` asks (seeded by ``seed``, independent of the router)."""
    rng = random.Random(f"replay-probe:{seed}")  # noqa: S311 (simulation)
    if probe.models and probe.models < len(data.models):
        models = tuple(rng.sample(list(data.models), probe.models))
        keep = {m.id for m in models}
        outcomes = {
            item: {m: v for m, v in per_model.items() if m in keep}
            for item, per_model in data.outcomes.items()
        }
        items = tuple(i for i in data.items if outcomes[i.item_id])
        data = dataclasses.replace(data, models=models, outcomes=outcomes, items=items)
    if probe.subsample < 1.0:
        count = max(1, round(probe.subsample * len(data.items)))
        chosen = sorted(rng.sample(range(len(data.items)), count))
        data = dataclasses.replace(data, items=tuple(data.items[i] for i in chosen))
    return data


def run_one(task: tuple[str, float, int, Probe]) -> dict[str, Any]:
    """One replay run of the sweep, with its check and margin added."""
    folder, wtp, seed, probe = task
    data = probe_set(_load(folder), probe, seed)
    result = replay_set(
        data,
        wtp=wtp,
        strategy=probe.strategy,  # type: ignore[arg-type]
        seed=seed,
        accounts=probe.accounts,
        delay=probe.delay,
        in_order=probe.in_order,
        config=bandit_config(probe.config),
    )
    passed, margin = check(result)
    result["check"] = {"passed": passed, "margin": margin}
    return result


def sweep(
    folders: Sequence[str],
    wtps: Sequence[float],
    seeds: Sequence[int],
    probe: Probe = Probe(),
    jobs: int = 1,
) -> list[dict[str, Any]]:
    """Every (folder, W, seed) run, in that order, on up to ``jobs`` processes."""
    tasks = [(f, w, s, probe) for f in folders for w in wtps for s in seeds]
    if jobs <= 1:
        return [run_one(task) for task in tasks]
    # Each worker takes whole chunks, so its caches (loaded folders, features) are reused.
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        return pool.map(run_one, tasks, chunksize=max(1, len(tasks) // (2 * jobs)))


def summary(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Miss count and summed margins over a sweep."""
    margins = [r["check"]["margin"] for r in results]
    misses = [r for r in results if not r["check"]["passed"]]
    return {
        "runs": len(results),
        "misses": len(misses),
        "summed_margin": math.fsum(margins),
        "worst_margin": min(margins) if margins else math.nan,
    }


def _pair_key(run: dict[str, Any]) -> tuple[str, float, int, int]:
    return (str(run["set"]), float(run["wtp"]), int(run["seed"]), int(run["items"]))


def paired(
    results: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Margin differences ``results - baseline``, run by run, per (set, W) and overall.

    Runs pair on set, W, seed and item count; unpaired runs are left out. Each
    group has ``runs``, ``mean`` difference, its standard error ``se`` (NaN with
    one run) and the misses of the baseline and of the results.
    """
    base = {_pair_key(r): r["check"] for r in baseline}
    groups: dict[tuple[str, float], list[tuple[float, bool, bool]]] = {}
    for run in results:
        other = base.get(_pair_key(run))
        if other is not None:
            diff = run["check"]["margin"] - other["margin"]
            row = (diff, not other["passed"], not run["check"]["passed"])
            groups.setdefault((str(run["set"]), float(run["wtp"])), []).append(row)
    overall = [row for rows in groups.values() for row in rows]
    labelled: list[tuple[str, float | None, list[tuple[float, bool, bool]]]] = [
        (name, wtp, rows) for (name, wtp), rows in groups.items()
    ]
    if overall:
        labelled.append(("all", None, overall))
    return [
        {
            "set": name,
            "wtp": wtp,
            "runs": len(rows),
            "mean": statistics.fmean(d for d, _, _ in rows),
            "se": statistics.stdev(d for d, _, _ in rows) / math.sqrt(len(rows))
            if len(rows) > 1
            else math.nan,
            "baseline_misses": sum(b for _, b, _ in rows),
            "misses": sum(m for _, _, m in rows),
        }
        for name, wtp, rows in labelled
    ]


def format_paired(groups: Sequence[dict[str, Any]]) -> str:
    """The :func:`paired` groups, one line each."""
    lines = [f"{'paired with baseline':<18} {'W':>6} {'runs':>4}  {'margin diff':>16}  misses"]
    for g in groups:
        wtp = "" if g["wtp"] is None else f"{g['wtp']:g}"
        lines.append(
            f"{g['set']:<18} {wtp:>6} {g['runs']:>4}  {g['mean']:+.4f} +- {g['se']:.4f}  "
            f"{g['baseline_misses']} -> {g['misses']}"
        )
    return "\n".join(lines)


def format_rows(results: Sequence[dict[str, Any]]) -> str:
    """One line per run, then the totals."""
    head = (
        f"{'set':<18} {'W':>6} {'seed':>4}  {'router':>7} {'(1/4)':>7}  "
        f"{'best':>7} {'(1/4)':>7}  {'random':>7}  {'margin':>8}  check  best fixed"
    )
    lines = [head]
    for r in results:
        router, base = r["router"], r["baselines"]
        best = base["best_fixed"]
        lines.append(
            f"{r['set']:<18} {r['wtp']:>6g} {r['seed']:>4}  {router['utility']:7.4f} "
            f"{router['final_quarter_utility']:7.4f}  {best['utility']:7.4f} "
            f"{best['final_quarter_utility']:7.4f}  {base['random']['utility']:7.4f}  "
            f"{r['check']['margin']:+8.4f}  {'ok' if r['check']['passed'] else 'MISS':<5}  "
            f"{best['model']}"
        )
    total = summary(results)
    lines.append(
        f"{total['runs']} runs, {total['misses']} misses, summed margin "
        f"{total['summed_margin']:+.4f}, worst {total['worst_margin']:+.4f}"
    )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bandit.replay_sweep",
        description="Replay folders at several W and seeds and check issue 2's acceptance.",
    )
    parser.add_argument("dirs", metavar="DIR", nargs="+")
    parser.add_argument("--seeds", default="1-6", help="e.g. 1-6 or 1,3,5")
    parser.add_argument("--wtp", default="inf,0.01,0.001", help="comma-separated, inf allowed")
    parser.add_argument("--jobs", type=int, default=1, help="processes (at most 2, please)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto")
    parser.add_argument("--accounts", type=int, default=1, metavar="N")
    parser.add_argument("--delay", type=int, default=0, metavar="K")
    parser.add_argument("--in-order", action="store_true", help="stream items in file order")
    parser.add_argument("--subsample", type=float, default=1.0, metavar="F")
    parser.add_argument("--models", type=int, default=0, metavar="K", help="random sub-catalog")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a BanditConfig field (repeatable), e.g. --set eliminate_z=3",
    )
    parser.add_argument("--json", metavar="OUT", default=None)
    parser.add_argument(
        "--baseline",
        metavar="RUNS.json",
        default=None,
        help="an earlier sweep's --json: print paired margin differences against it",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bandit.replay_sweep``."""
    args = _parser().parse_args(argv)
    if not 0.0 < args.subsample <= 1.0 or args.models < 0:
        print("replay_sweep: need 0 < --subsample <= 1 and --models >= 0", file=sys.stderr)
        return 2
    probe = Probe(
        strategy=args.strategy,
        accounts=args.accounts,
        delay=args.delay,
        in_order=args.in_order,
        subsample=args.subsample,
        models=args.models,
        config=tuple((name, value) for name, _, value in (i.partition("=") for i in args.set)),
    )
    try:
        bandit_config(probe.config)  # fail fast on a bad --set
        baseline: list[dict[str, Any]] | None = None
        if args.baseline:
            with open(args.baseline, encoding="utf-8") as handle:
                baseline = list(json.load(handle)["runs"])
        results = sweep(args.dirs, parse_wtps(args.wtp), parse_seeds(args.seeds), probe, args.jobs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"replay_sweep: {exc}", file=sys.stderr)
        return 2
    print(format_rows(results))
    pairs = paired(results, baseline) if baseline is not None else None
    if pairs is not None:
        print(format_paired(pairs))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            payload: dict[str, Any] = {"runs": results, "summary": summary(results)}
            if pairs is not None:
                payload["paired"] = pairs
            json.dump(payload, handle, indent=2, allow_nan=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
