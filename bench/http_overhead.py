"""HTTP overhead: what autoroute adds on top of its upstream, beside LiteLLM's proxy.

One run measures, with the same load generator (``wrk`` and ``bench/wrk/chat.lua``)
and the same settings:

* **direct**: the fake upstream (``bench/fake_upstream_fast.py``) on its own,
  the baseline every other figure is compared with;
* **floor**: a one-route FastAPI + httpx passthrough (``bench/floor_proxy.py``)
  on autoroute's own stack, the least such a proxy can cost; **floor_aiohttp**
  is the same app with aiohttp as its upstream client;
* **autoroute**: ``autoroute serve`` with the whole path on (auth, features,
  policy, decision log, provider call, reward event), its catalog pointing at
  the fake upstream;
* **litellm**: LiteLLM's proxy (one worker) in front of the same upstream.

Each is measured at concurrency 1 (added latency at p50 and p99) and at
saturation (``-c32``), with the server under test pinned to core 0 and wrk
plus the upstream pinned to core 1. All servers run at once and the targets
are measured in turn, round after round: the machine is shared, so a figure
compared with another is taken in the same round (added latency, the
autoroute/LiteLLM ratio), and the median over rounds is reported. Besides
requests/s, the server's own CPU time per request is read from ``/proc``:
``1 / cpu_per_request`` is the throughput one whole core would give, and it
shows whether the server had its core to itself.

Run alone with ``python -m bench.http_overhead``. ``BENCH_HTTP_SECONDS`` sets the
length of each phase (default 3 s), ``BENCH_HTTP_ROUNDS`` the rounds (default 3)
and ``BENCH_HTTP_TARGETS`` the targets (default
``direct,floor,floor_aiohttp,autoroute,litellm``; ``floor_httpx_aiohttp``,
``autoroute_aiohttp_transport``, ``autoroute_redis`` and ``autoroute_base``
run on request). The targets and how each is started live in
``bench/http_targets.py``. Every other ``autoroute_*`` target in the run is
compared with ``autoroute`` round by round (``autoroute_vs_<target>_cpu``,
``_rps``): with ``autoroute_base`` and ``BENCH_BASE_TREE`` set to a worktree
of the previous commit, that is a change's before/after in one run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from statistics import median
from tempfile import TemporaryDirectory
from typing import Any

from bench import procs
from bench.http_targets import DEFAULT_TARGETS, LOAD_CPU, LUA, SERVER_CPU, Target, start_all
from bench.litellm import proxy as litellm_proxy

SATURATION_CONNECTIONS = 32

TARGETS = {
    "added_p50_ms": 1.0,
    "added_p99_ms": 5.0,
    "rps_per_core": 1000.0,
    "vs_litellm": 15.0,
}


def phase(target: Target, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run, plus the server's CPU time per request when we own the server."""
    before = target.server.cpu_seconds() if target.server else 0.0
    stats = procs.wrk(
        target.url, target.bodies, target.key, connections, seconds, cpu=LOAD_CPU, lua=LUA
    )
    if target.server is not None and stats["requests"]:
        cpu = target.server.cpu_seconds() - before
        stats["server_cpu_us_per_request"] = round(cpu * 1e6 / stats["requests"], 1)
    return stats


def measure_rounds(
    targets: list[Target], rounds: int, seconds: float, skipped: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Interleave the targets round by round, so each round's figures share conditions."""
    per_round: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    for target in targets:
        try:
            phase(target, 8, min(2.0, seconds))  # warm-up: connection pools, lazy imports
        except procs.BenchError as exc:
            skipped[target.name] = str(exc)
    for i in range(rounds):
        for target in [t for t in targets if t.name not in skipped]:
            try:
                c1 = phase(target, 1, seconds)
                saturation = phase(target, SATURATION_CONNECTIONS, seconds)
            except procs.BenchError as exc:
                skipped[target.name] = str(exc)
                continue
            per_round[target.name].append({"round": i, "c1": c1, "saturation": saturation})
    return {name: r for name, r in per_round.items() if r}


def _cpu_rps(stats: dict[str, Any]) -> float | None:
    cpu_us = stats.get("server_cpu_us_per_request")
    return 1e6 / cpu_us if cpu_us else None


def _cpu_ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """How many times less server CPU ``a`` spends per request than ``b``."""
    cpu_a = a["saturation"].get("server_cpu_us_per_request")
    cpu_b = b["saturation"].get("server_cpu_us_per_request")
    return cpu_b / cpu_a if cpu_a and cpu_b else None


def _rps_ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """How many times more requests/s ``a`` served at saturation than ``b``."""
    return float(a["saturation"]["rps"] / b["saturation"]["rps"])


def _paired(a: list[dict[str, Any]], b: list[dict[str, Any]], fn: Callable) -> list[float]:
    """``fn(a_round, b_round)`` for every round both targets completed."""
    by_round = {r["round"]: r for r in b}
    values = [fn(x, by_round[x["round"]]) for x in a if x["round"] in by_round]
    return [v for v in values if v is not None]


def derive(per_round: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Medians over rounds; differences and ratios are taken within a round first."""
    out: dict[str, float] = {}
    direct = per_round.get("direct", [])
    for name in [n for n in per_round if n != "direct"]:
        runs = per_round.get(name)
        if not runs:
            continue
        for p in ("p50", "p99"):
            added = _paired(
                runs, direct, lambda x, d, p=p: x["c1"]["latency_us"][p] - d["c1"]["latency_us"][p]
            )
            if added:
                out[f"{name}_added_{p}_ms"] = round(median(added) / 1000, 3)
        out[f"{name}_rps_per_core"] = round(median(r["saturation"]["rps"] for r in runs), 1)
        out[f"{name}_rps_per_core_best"] = round(max(r["saturation"]["rps"] for r in runs), 1)
        cpu = [v for v in (_cpu_rps(r["saturation"]) for r in runs) if v]
        if cpu:
            out[f"{name}_cpu_rps_per_core"] = round(median(cpu), 1)
    auto, lite = per_round.get("autoroute", []), per_round.get("litellm", [])
    rps = _paired(auto, lite, _rps_ratio)
    if rps:
        out["autoroute_vs_litellm_rps"] = round(median(rps), 2)
    cpu_ratio = _paired(auto, lite, _cpu_ratio)
    if cpu_ratio:
        out["autoroute_vs_litellm_cpu"] = round(median(cpu_ratio), 2)
    # A/B targets (another commit, a switch turned off): autoroute against each.
    for name in [n for n in per_round if n.startswith("autoroute_")]:
        ratio = _paired(auto, per_round[name], _cpu_ratio)
        if ratio:
            out[f"autoroute_vs_{name}_cpu"] = round(median(ratio), 3)
        rps = _paired(auto, per_round[name], _rps_ratio)
        if rps:
            out[f"autoroute_vs_{name}_rps"] = round(median(rps), 3)
    return out


CHECKS: dict[str, tuple[float, str]] = {
    "autoroute_added_p50_ms": (TARGETS["added_p50_ms"], "<="),
    "autoroute_added_p99_ms": (TARGETS["added_p99_ms"], "<="),
    "autoroute_rps_per_core": (TARGETS["rps_per_core"], ">="),
    "autoroute_vs_litellm_rps": (TARGETS["vs_litellm"], ">="),
}


def _unit(key: str) -> str:
    return "ms" if key.endswith("_ms") else "x" if "_vs_" in key else "req/s"


def rows(
    derived: dict[str, float], per_round: dict[str, list[dict[str, Any]]], skipped: dict[str, str]
) -> list[dict[str, Any]]:
    """Table rows for ``python -m bench``, each with its target when there is one."""
    table: list[dict[str, Any]] = []
    for name, runs in per_round.items():
        for label, get, unit in (
            ("p50 @c1", lambda r: r["c1"]["latency_us"]["p50"] / 1000, "ms"),
            ("p99 @c1", lambda r: r["c1"]["latency_us"]["p99"] / 1000, "ms"),
            (f"req/s @c{SATURATION_CONNECTIONS}", lambda r: r["saturation"]["rps"], "req/s"),
        ):
            table.append(
                {"measure": f"{name} {label}", "value": median(map(get, runs)), "unit": unit}
            )
    for name, error in skipped.items():
        note = error.strip().splitlines()[-1]
        table.append({"measure": name, "value": "skipped", "note": note})
    for key, value in derived.items():
        row: dict[str, Any] = {"measure": key, "value": value, "unit": _unit(key)}
        if key in CHECKS:
            target, op = CHECKS[key]
            row["target"] = f"{op} {target:g}"
            row["ok"] = value <= target if op == "<=" else value >= target
        table.append(row)
    return table


def run() -> dict[str, Any]:
    """Measure every target, interleaved over rounds; return rounds, derived figures, rows."""
    seconds = float(os.environ.get("BENCH_HTTP_SECONDS", "3"))
    rounds = int(os.environ.get("BENCH_HTTP_ROUNDS", "3"))
    wanted = os.environ.get("BENCH_HTTP_TARGETS", DEFAULT_TARGETS).split(",")
    procs.require_wrk()
    load_before = os.getloadavg()
    with TemporaryDirectory(prefix="autoroute-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        port = procs.free_port()
        upstream_argv = procs.python_module("bench.fake_upstream_fast", "--port", str(port))
        upstream = stack.enter_context(
            procs.Server("upstream", upstream_argv, {}, cpu=LOAD_CPU, logdir=workdir)
        )
        upstream.wait_port(port, timeout_s=10)
        targets, skipped = start_all(stack, workdir, f"http://127.0.0.1:{port}/v1", wanted)
        per_round = measure_rounds(targets, rounds, seconds, skipped)
    derived = derive(per_round)
    return {
        "machine": procs.machine(),
        "settings": {
            "rounds": rounds,
            "seconds_per_phase": seconds,
            "saturation_connections": SATURATION_CONNECTIONS,
            "server_cpu": SERVER_CPU,
            "load_and_upstream_cpu": LOAD_CPU,
            "wrk": procs.wrk_version(),
            "litellm_version": litellm_proxy.LITELLM_VERSION,
            # Other work on the machine shows here; compare figures within a run.
            "load_average_1m_before_after": [load_before[0], os.getloadavg()[0]],
        },
        "rounds": per_round,
        "skipped": skipped,
        "derived": derived,
        "rows": rows(derived, per_round, skipped),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
