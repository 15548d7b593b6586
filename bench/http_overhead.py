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
``direct,floor,floor_aiohttp,autoroute,litellm``; ``autoroute_redis``, autoroute
with a Redis store, runs on request).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from tempfile import TemporaryDirectory
from typing import Any

from bench import procs
from bench.litellm import proxy as litellm_proxy

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "wrk" / "chat.lua"
SERVER_CPU = "0"
LOAD_CPU = "1"
API_KEY = "sk-bench-0001"
SATURATION_CONNECTIONS = 32

TARGETS = {
    "added_p50_ms": 1.0,
    "added_p99_ms": 5.0,
    "rps_per_core": 1000.0,
    "vs_litellm": 15.0,
}

# A small mix of request shapes, so per-request work (features, token
# estimates) is not measured on one cached prompt.
PROMPTS = (
    "hi",
    "Write a Python function that merges two sorted lists in linear time.",
    "What is the integral of x^2 * sin(x) dx? Show the steps.",
    "Summarise in two sentences: " + "The quarterly report shows revenue grew. " * 12,
    "Translate to French: the meeting is moved to Thursday afternoon.",
    "Write a short poem about a lighthouse keeper who collects lost letters.",
)

CATALOG_YAML = """\
replace: true
models:
{models}"""

CATALOG_MODEL = """\
  - id: {id}
    provider: openai_compatible
    base_url: {base_url}
    upstream_model: fake-model
    input_usd_per_mtok: {price_in}
    output_usd_per_mtok: {price_out}
    tier: {tier}
"""


def write_bodies(path: Path, model: str) -> Path:
    """One Chat Completions body per line, for chat.lua to cycle through."""
    lines = [
        json.dumps({"model": model, "messages": [{"role": "user", "content": p}]}) for p in PROMPTS
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_catalog(path: Path, upstream_url: str) -> Path:
    """Three models, all served by the fake upstream, so the policy has a real choice."""
    models = [
        ("local-small", 0.1, 0.2, 3),
        ("local-medium", 1.0, 2.0, 2),
        ("local-large", 5.0, 15.0, 1),
    ]
    text = "".join(
        CATALOG_MODEL.format(id=i, base_url=upstream_url, price_in=a, price_out=b, tier=t)
        for i, a, b, t in models
    )
    path.write_text(CATALOG_YAML.format(models=text))
    return path


def autoroute_command(port: int) -> list[str]:
    """``autoroute serve`` from the project's virtualenv, one worker.

    Access logs are off (``--log-level warning``), as they are for LiteLLM
    (``LITELLM_LOG=ERROR``), so neither pays for a log line per request.
    """
    cli = shutil.which("autoroute", path=str(ROOT / ".venv" / "bin")) or "autoroute"
    argv = [cli, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return argv + ["--workers", "1", "--log-level", "warning"]


def autoroute_environment(workdir: Path, upstream_url: str) -> dict[str, str]:
    """A self-contained autoroute: the bench catalog, one static key, a fresh data dir."""
    return {
        "AUTOROUTE_CATALOG": str(write_catalog(workdir / "catalog.yaml", upstream_url)),
        "AUTOROUTE_API_KEYS": f"{API_KEY}:bench-account",
        "AUTOROUTE_DATA_DIR": str(workdir / "data"),
    }


@dataclass
class Target:
    """One thing wrk is pointed at; ``server`` is None for the upstream itself."""

    name: str
    url: str
    bodies: Path
    key: str
    server: procs.Server | None = None


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


def _start_direct(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
    bodies = write_bodies(workdir / "bodies-direct.jsonl", "fake-model")
    return Target("direct", f"{upstream_url}/chat/completions", bodies, "")


def _autoroute(name: str, launcher: str | None) -> Callable[[ExitStack, Path, str], Target]:
    """Start ``autoroute serve``, or the same through a ``bench.whatif_*`` launcher."""

    def start(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
        port = procs.free_port()
        (workdir / name).mkdir()
        env = autoroute_environment(workdir / name, upstream_url)
        argv = autoroute_command(port)
        if launcher is not None:
            argv = procs.python_module(launcher, *argv[1:])
        server = stack.enter_context(procs.Server(name, argv, env, cpu=SERVER_CPU, logdir=workdir))
        bodies = write_bodies(workdir / f"bodies-{name}.jsonl", "auto")
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        return Target(name, url, bodies, API_KEY, server)

    return start


def _start_autoroute_redis(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
    """autoroute on Redis (the multi-worker deployment's store), still one worker.

    redis-server runs on the load core; the learner is not started, since the
    request path only appends to the reward stream.
    """
    redis = shutil.which("redis-server")
    if not redis:
        raise procs.BenchError("redis-server not found: apt-get install redis-server")
    redis_port = procs.free_port()
    argv = [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no"]
    store = stack.enter_context(procs.Server("redis", argv, {}, cpu=LOAD_CPU, logdir=workdir))
    store.wait_port(redis_port, timeout_s=10)
    port = procs.free_port()
    (workdir / "redis-mode").mkdir()
    env = autoroute_environment(workdir / "redis-mode", upstream_url)
    env["AUTOROUTE_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    server = stack.enter_context(
        procs.Server(
            "autoroute_redis", autoroute_command(port), env, cpu=SERVER_CPU, logdir=workdir
        )
    )
    bodies = write_bodies(workdir / "bodies-auto-redis.jsonl", "auto")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    return Target("autoroute_redis", url, bodies, API_KEY, server)


def _floor(name: str, client: str) -> Callable[[ExitStack, Path, str], Target]:
    def start(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
        port = procs.free_port()
        argv = procs.python_module("bench.floor_proxy", "--port", str(port))
        argv += ["--upstream", upstream_url, "--client", client]
        server = stack.enter_context(procs.Server(name, argv, {}, cpu=SERVER_CPU, logdir=workdir))
        bodies = write_bodies(workdir / f"bodies-{name}.jsonl", "fake-model")
        return Target(name, f"http://127.0.0.1:{port}/v1/chat/completions", bodies, "", server)

    return start


def _start_litellm(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
    cli = litellm_proxy.ensure_installed()
    port = procs.free_port()
    key = "sk-bench-litellm"
    env = litellm_proxy.environment(upstream_url, key)
    argv = litellm_proxy.command(cli, port)
    server = stack.enter_context(procs.Server("litellm", argv, env, cpu=SERVER_CPU, logdir=workdir))
    bodies = write_bodies(workdir / "bodies-litellm.jsonl", "local-small")
    return Target("litellm", f"http://127.0.0.1:{port}/v1/chat/completions", bodies, key, server)


STARTERS: dict[str, Callable[[ExitStack, Path, str], Target]] = {
    "direct": _start_direct,
    "floor": _floor("floor", "httpx"),
    "autoroute": _autoroute("autoroute", None),
    "litellm": _start_litellm,
    "floor_aiohttp": _floor("floor_aiohttp", "aiohttp"),
    # Not run by default: the floor's httpx client on aiohttp's transport, and
    # autoroute with Redis as its store instead of the embedded one.
    "floor_httpx_aiohttp": _floor("floor_httpx_aiohttp", "httpx_aiohttp"),
    "autoroute_aiohttp_transport": _autoroute(
        "autoroute_aiohttp_transport", "bench.whatif_aiohttp_transport"
    ),
    "autoroute_redis": _start_autoroute_redis,
}
DEFAULT_TARGETS = "direct,floor,floor_aiohttp,autoroute,litellm"
READY_TIMEOUT_S = {"litellm": 180.0}
_SKIPPABLE = (procs.BenchError, litellm_proxy.LiteLLMUnavailable)


def start_all(
    stack: ExitStack, workdir: Path, upstream_url: str, wanted: list[str]
) -> tuple[list[Target], dict[str, str]]:
    """Start every wanted server at once, then wait for each; failures are skipped."""
    started: list[Target] = []
    skipped: dict[str, str] = {}
    for name in wanted:
        try:
            started.append(STARTERS[name](stack, workdir, upstream_url))
        except _SKIPPABLE as exc:
            skipped[name] = str(exc)
    ready = []
    for target in started:
        if target.server is not None:
            try:
                target.server.wait_ready(
                    target.url, target.bodies, target.key, READY_TIMEOUT_S.get(target.name, 60.0)
                )
            except procs.BenchError as exc:
                skipped[target.name] = str(exc)
                target.server.stop()
                continue
        ready.append(target)
    return ready, skipped


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
    rps = _paired(auto, lite, lambda a, b: a["saturation"]["rps"] / b["saturation"]["rps"])
    if rps:
        out["autoroute_vs_litellm_rps"] = round(median(rps), 2)
    cpu_ratio = _paired(auto, lite, _cpu_ratio)
    if cpu_ratio:
        out["autoroute_vs_litellm_cpu"] = round(median(cpu_ratio), 2)
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
