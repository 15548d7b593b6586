"""HTTP overhead: what autoroute adds on top of its upstream, beside LiteLLM's proxy.

One run measures, with the same load generator (``wrk`` and ``bench/wrk/chat.lua``)
and the same settings:

* **direct**: the fake upstream (``bench/fake_upstream_fast.py``) on its own,
  the baseline every other figure is compared with;
* **autoroute**: ``autoroute serve`` with the whole path on (auth, features,
  policy, decision log, provider call, reward event), its catalog pointing at
  the fake upstream;
* **litellm**: LiteLLM's proxy (one worker) in front of the same upstream.

Each is measured at concurrency 1 (added latency at p50 and p99) and at
saturation (``-c32``), with the server under test pinned to core 0 and wrk
plus the upstream pinned to core 1. Besides requests/s, the server's own CPU
time per request is read from ``/proc``: on a machine shared with other work it
is steadier than wall-clock throughput, and ``1 / cpu_per_request`` is the
throughput one whole core would give.

Run alone with ``python -m bench.http_overhead``; ``BENCH_HTTP_SECONDS`` sets
the length of each measured phase (default 5 s) and ``BENCH_HTTP_TARGETS``
picks targets (default ``direct,autoroute,litellm``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
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
    """``autoroute serve`` from the project's virtualenv."""
    cli = shutil.which("autoroute", path=str(ROOT / ".venv" / "bin")) or "autoroute"
    return [cli, "serve", "--host", "127.0.0.1", "--port", str(port)]


def autoroute_environment(workdir: Path, upstream_url: str, port: int) -> dict[str, str]:
    """A self-contained autoroute: the bench catalog, one static key, a fresh data dir."""
    return {
        "AUTOROUTE_CATALOG": str(write_catalog(workdir / "catalog.yaml", upstream_url)),
        "AUTOROUTE_API_KEYS": f"{API_KEY}:bench-account",
        "AUTOROUTE_DATA_DIR": str(workdir / "data"),
        "AUTOROUTE_HOST": "127.0.0.1",
        "AUTOROUTE_PORT": str(port),
        "AUTOROUTE_LOG_LEVEL": "warning",
    }


def measure(url: str, bodies: Path, key: str, seconds: float, server: procs.Server | None) -> dict:
    """Warm up, then one phase at concurrency 1 and one at saturation."""
    procs.wrk(url, bodies, key, connections=8, seconds=min(2.0, seconds), cpu=LOAD_CPU, lua=LUA)
    result: dict[str, Any] = {}
    for phase, conns in (("c1", 1), ("saturation", SATURATION_CONNECTIONS)):
        cpu_before = server.cpu_seconds() if server else 0.0
        stats = procs.wrk(url, bodies, key, conns, seconds, cpu=LOAD_CPU, lua=LUA)
        if server is not None and stats["requests"]:
            cpu = server.cpu_seconds() - cpu_before
            stats["server_cpu_us_per_request"] = round(cpu * 1e6 / stats["requests"], 1)
        result[phase] = stats
    return result


def _run_direct(workdir: Path, upstream_url: str, seconds: float) -> dict:
    bodies = write_bodies(workdir / "bodies-direct.jsonl", "fake-model")
    return measure(f"{upstream_url}/chat/completions", bodies, "", seconds, None)


def _run_autoroute(workdir: Path, upstream_url: str, seconds: float) -> dict:
    port = procs.free_port()
    env = autoroute_environment(workdir, upstream_url, port)
    bodies = write_bodies(workdir / "bodies-auto.jsonl", "auto")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with procs.Server(
        "autoroute", autoroute_command(port), env, cpu=SERVER_CPU, logdir=workdir
    ) as server:
        server.wait_ready(url, bodies, API_KEY, timeout_s=60)
        return measure(url, bodies, API_KEY, seconds, server)


def _run_litellm(workdir: Path, upstream_url: str, seconds: float) -> dict:
    cli = litellm_proxy.ensure_installed()
    port = procs.free_port()
    key = "sk-bench-litellm"
    env = litellm_proxy.environment(upstream_url, key)
    bodies = write_bodies(workdir / "bodies-litellm.jsonl", "local-small")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    argv = litellm_proxy.command(cli, port)
    with procs.Server("litellm", argv, env, cpu=SERVER_CPU, logdir=workdir) as server:
        server.wait_ready(url, bodies, key, timeout_s=180)
        result = measure(url, bodies, key, seconds, server)
    result["version"] = litellm_proxy.LITELLM_VERSION
    return result


RUNNERS: dict[str, Callable[[Path, str, float], dict]] = {
    "direct": _run_direct,
    "autoroute": _run_autoroute,
    "litellm": _run_litellm,
}


def derive(results: dict[str, dict]) -> dict[str, float]:
    """Added latency against the same-run baseline, per-core throughput and ratios."""
    out: dict[str, float] = {}
    direct = results.get("direct", {}).get("c1")
    for name in ("autoroute", "litellm"):
        res = results.get(name)
        if not res or "c1" not in res:
            continue
        if direct:
            for p in ("p50", "p99"):
                added = res["c1"]["latency_us"][p] - direct["latency_us"][p]
                out[f"{name}_added_{p}_ms"] = round(added / 1000, 3)
        sat = res["saturation"]
        out[f"{name}_rps_per_core"] = round(sat["rps"], 1)
        cpu_us = sat.get("server_cpu_us_per_request")
        if cpu_us:
            out[f"{name}_cpu_rps_per_core"] = round(1e6 / cpu_us, 1)
    if out.get("litellm_rps_per_core") and "autoroute_rps_per_core" in out:
        out["autoroute_vs_litellm_rps"] = round(
            out["autoroute_rps_per_core"] / out["litellm_rps_per_core"], 2
        )
    if out.get("litellm_cpu_rps_per_core") and "autoroute_cpu_rps_per_core" in out:
        out["autoroute_vs_litellm_cpu"] = round(
            out["autoroute_cpu_rps_per_core"] / out["litellm_cpu_rps_per_core"], 2
        )
    return out


def rows(derived: dict[str, float], results: dict[str, dict]) -> list[dict[str, Any]]:
    """Table rows for ``python -m bench``, each with its target when there is one."""
    table: list[dict[str, Any]] = []
    for name, res in results.items():
        if "error" in res:
            note = res["error"].strip().splitlines()[-1]
            table.append({"measure": name, "value": "skipped", "note": note})
            continue
        table.append(
            {
                "measure": f"{name} p50 @c1",
                "value": res["c1"]["latency_us"]["p50"] / 1000,
                "unit": "ms",
            }
        )
        table.append(
            {
                "measure": f"{name} p99 @c1",
                "value": res["c1"]["latency_us"]["p99"] / 1000,
                "unit": "ms",
            }
        )
        table.append(
            {
                "measure": f"{name} req/s @c{SATURATION_CONNECTIONS}",
                "value": res["saturation"]["rps"],
                "unit": "req/s",
            }
        )
    checks = {
        "autoroute_added_p50_ms": ("ms", TARGETS["added_p50_ms"], "<="),
        "autoroute_added_p99_ms": ("ms", TARGETS["added_p99_ms"], "<="),
        "litellm_added_p50_ms": ("ms", None, ""),
        "litellm_added_p99_ms": ("ms", None, ""),
        "autoroute_rps_per_core": ("req/s", TARGETS["rps_per_core"], ">="),
        "autoroute_cpu_rps_per_core": ("req/s", TARGETS["rps_per_core"], ">="),
        "litellm_rps_per_core": ("req/s", None, ""),
        "litellm_cpu_rps_per_core": ("req/s", None, ""),
        "autoroute_vs_litellm_rps": ("x", TARGETS["vs_litellm"], ">="),
        "autoroute_vs_litellm_cpu": ("x", TARGETS["vs_litellm"], ">="),
    }
    for key, (unit, target, op) in checks.items():
        if key not in derived:
            continue
        row: dict[str, Any] = {"measure": key, "value": derived[key], "unit": unit}
        if target is not None:
            value = derived[key]
            row["target"] = f"{op} {target:g}"
            row["ok"] = value <= target if op == "<=" else value >= target
        table.append(row)
    return table


def run() -> dict:
    """Measure every target in one run; return results, derived figures and table rows."""
    seconds = float(os.environ.get("BENCH_HTTP_SECONDS", "5"))
    wanted = os.environ.get("BENCH_HTTP_TARGETS", ",".join(RUNNERS)).split(",")
    procs.require_wrk()
    results: dict[str, dict] = {}
    with TemporaryDirectory(prefix="autoroute-bench-") as tmp:
        workdir = Path(tmp)
        port = procs.free_port()
        upstream_argv = procs.python_module("bench.fake_upstream_fast", "--port", str(port))
        with procs.Server("upstream", upstream_argv, {}, cpu=LOAD_CPU, logdir=workdir) as up:
            upstream_url = f"http://127.0.0.1:{port}/v1"
            up.wait_port(port, timeout_s=10)
            for name in wanted:
                try:
                    results[name] = RUNNERS[name](workdir, upstream_url, seconds)
                except (procs.BenchError, litellm_proxy.LiteLLMUnavailable) as exc:
                    results[name] = {"error": str(exc)}
    derived = derive(results)
    return {
        "machine": procs.machine(),
        "settings": {
            "seconds_per_phase": seconds,
            "saturation_connections": SATURATION_CONNECTIONS,
            "server_cpu": SERVER_CPU,
            "load_and_upstream_cpu": LOAD_CPU,
            "wrk": procs.wrk_version(),
        },
        "results": results,
        "derived": derived,
        "rows": rows(derived, results),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
