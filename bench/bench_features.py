"""Latency of the prompt classifier (:func:`bandit.features.extract_features`).

Prints p50 and p99 in microseconds for a short prompt, a ~1k-token and a
~4k-token prompt, next to a baseline measured in the same run on the same
text: one ``re.findall(r"\\w+", text)`` pass, the cheapest thing that reads
every word. The target is p99 < 1 ms for the 4k-token prompt.

Run: ``.venv/bin/python -m bench.bench_features``. With ``--confusion DIR...``
it prints, for replay folders, the query type against each item's source task.
"""

from __future__ import annotations

import csv
import gc
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bandit.features import extract_features
from providers.base import Message

_WORD = re.compile(r"\w+")
_TARGET_P99_US = 1_000.0

_PROSE = (
    "Our service ingests events from several regions and writes them to a queue. "
    "During the last incident the consumer fell behind by forty minutes, and the "
    "on-call engineer restarted it twice before the backlog cleared. "
)
_CODE = (
    "```python\n"
    "def drain(queue, batch=100):\n"
    "    items = queue.pop(batch)\n"
    "    for item in items:\n"
    "        handle(item)\n"
    "    return len(items)\n"
    "```\n"
)
_ASK = "Explain why the consumer fell behind and suggest three fixes, with code where useful."


def _prompt(tokens: int) -> list[Message]:
    """A realistic chat request of roughly ``tokens`` tokens (prose, code, a question)."""
    body = ""
    while len(body) < tokens * 4 - len(_ASK):
        body += _PROSE + (_CODE if len(body) % 3 == 0 else "")
    return [
        Message("system", "You are a senior site reliability engineer."),
        Message("user", body[: max(0, tokens * 4 - len(_ASK))] + _ASK),
    ]


_CASES: dict[str, list[Message]] = {
    "short": [Message("user", "What is the capital of France?")],
    "1k": _prompt(1_000),
    "4k": _prompt(4_000),
}


def _timings(fn: Callable[[], object], iterations: int) -> dict[str, float]:
    """p50/p99 in µs of wall time and of this thread's CPU time.

    On a shared machine the wall-clock p99 mostly measures time slices lost to
    other processes; the CPU-time percentiles are the classifier's own cost.
    """
    for _ in range(min(50, iterations)):
        fn()
    wall: list[float] = []
    cpu: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection pause is not the classifier's cost
    try:
        for _ in range(iterations):
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            fn()
            cpu.append((time.thread_time_ns() - start_cpu) / 1_000)
            wall.append((time.perf_counter_ns() - start) / 1_000)
    finally:
        if gc_was_enabled:
            gc.enable()
    wall.sort()
    cpu.sort()
    p99 = int(0.99 * (iterations - 1))
    return {
        "p50_us": round(statistics.median(wall), 1),
        "p99_us": round(wall[p99], 1),
        "cpu_p50_us": round(statistics.median(cpu), 1),
        "cpu_p99_us": round(cpu[p99], 1),
    }


def run(iterations: int = 2_000) -> dict[str, Any]:
    """Measure every case.

    Returns:
        ``{"cases": {case: {tokens, p50_us, p99_us, cpu_p50_us, cpu_p99_us,
        baseline_<same>, ratio_p50}}, "rows": [...]}``; ``rows`` is the ``make
        bench`` table, with the 4k CPU-time p99 checked against its 1 ms target.
    """
    cases: dict[str, dict[str, float]] = {}
    for name, messages in _CASES.items():
        text = "\n".join(m.content for m in messages)
        ours = _timings(partial(extract_features, messages), iterations)
        base = _timings(partial(_WORD.findall, text), iterations)
        cases[name] = {
            "tokens": float(extract_features(messages).input_tokens),
            **ours,
            **{f"baseline_{key}": value for key, value in base.items()},
            "ratio_p50": round(ours["p50_us"] / base["p50_us"], 2),
        }
    rows: list[dict[str, Any]] = []
    for name, case in cases.items():
        note = (
            f"wall p99 {case['p99_us']} µs; baseline findall p50 {case['baseline_p50_us']} µs, "
            f"ratio {case['ratio_p50']}"
        )
        rows.append({"measure": f"features {name} p50", "value": case["p50_us"], "unit": "µs"})
        row = {"measure": f"features {name} p99 (cpu)", "value": case["cpu_p99_us"], "unit": "µs"}
        if name == "4k":
            row |= {"target": "< 1000", "ok": case["cpu_p99_us"] < _TARGET_P99_US}
        rows.append(row | {"note": note})
    return {"cases": cases, "rows": rows}


def confusion(folder: Path) -> dict[str, Counter[str]]:
    """Query type against the source ``task`` of a replay folder (``items.csv``).

    The task label is read for this report only; the classifier never sees it.
    """
    table: dict[str, Counter[str]] = {}
    with (folder / "items.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            query_type = extract_features([Message("user", row["prompt"])]).query_type
            table.setdefault(row["task"], Counter())[query_type] += 1
    return table


def _print_confusion(folder: Path) -> None:
    table = confusion(folder)
    types = sorted({t for counts in table.values() for t in counts})
    print(f"\n{folder.name}: query_type (columns) by task (rows)")
    print(f"{'task':16}" + "".join(f"{t:>14}" for t in types))
    for task, counts in sorted(table.items()):
        print(f"{task:16}" + "".join(f"{counts[t]:>14}" for t in types))


def main(argv: list[str]) -> None:
    """Print the latency table; ``--confusion DIR...`` prints confusion tables instead."""
    if argv[:1] == ["--confusion"]:
        for folder in argv[1:]:
            _print_confusion(Path(folder))
        return
    cases = run()["cases"]
    print("extract_features latency (µs): wall clock, then thread CPU time")
    print("baseline = one re.findall(r'\\w+') pass over the same text")
    columns = ("p50_us", "p99_us", "cpu_p50_us", "cpu_p99_us")
    print(
        f"{'case':6} {'tokens':>6} "
        + " ".join(f"{c.removesuffix('_us'):>8}" for c in columns)
        + " | "
        + " ".join(f"{'b.' + c.removesuffix('_us'):>10}" for c in columns)
        + f" {'ratio':>6}"
    )
    for name, r in cases.items():
        print(
            f"{name:6} {r['tokens']:6.0f} "
            + " ".join(f"{r[c]:8.1f}" for c in columns)
            + " | "
            + " ".join(f"{r['baseline_' + c]:10.1f}" for c in columns)
            + f" {r['ratio_p50']:6.2f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
