"""Where a request's CPU goes, per function, in microseconds: exact counts, not samples.

py-spy (:mod:`bench.http_profile`) samples stacks, and on uvloop only about a
third of its samples carry Python frames; its shares are hard to turn into
microseconds. This starts the fast upstream and autoroute exactly as
``bench/http_overhead.py`` does (server on core 0, wrk and upstream on core 1),
but through :mod:`bench.cpu_timers`, which adds up the serving thread's CPU time
inside chosen functions. After a warm-up it snapshots the totals, drives wrk for
``seconds`` at ``connections``, snapshots again, and prints per function the CPU
per request (difference / requests served), per call and the number of calls,
beside the server's whole CPU per request from ``/proc`` (the baseline: what
the rows are shares of). Times are inclusive: a row contains the rows it calls.
Work outside every timed function (uvicorn, httptools and aiohttp's protocol
callbacks, the loop itself) is the whole minus the outermost row.

Not part of ``make bench``. Run ``python -m bench.cpu_by_function [seconds [connections]]``
(default 10 s at 32 connections); ``KEY=VALUE`` arguments after them are added to
the server's environment (e.g. ``AUTOROUTE_LEARN=false``).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench import http_targets as ht
from bench import procs

WARMUP_S = 4.0


def _snapshot(server: procs.Server, out: Path) -> dict[str, Any]:
    out.unlink(missing_ok=True)
    server.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            data: dict[str, Any] = json.loads(out.read_text())
            return data
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    raise procs.BenchError("the server wrote no timer snapshot (is it bench.cpu_timers?)")


def run(
    seconds: float = 10.0, connections: int = 32, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Measure; return the server's CPU per request and the rows, largest first."""
    with TemporaryDirectory(prefix="autoroute-cpu-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        port = procs.free_port()
        upstream_argv = procs.python_module("bench.fake_upstream_fast", "--port", str(port))
        upstream = stack.enter_context(
            procs.Server("upstream", upstream_argv, {}, cpu=ht.LOAD_CPU, logdir=workdir)
        )
        upstream.wait_port(port, timeout_s=10)
        out = workdir / "timers.json"
        start = ht.autoroute_starter(
            "autoroute", "bench.cpu_timers", {"CPU_TIMERS_OUT": str(out)} | (env or {})
        )
        target = start(stack, workdir, f"http://127.0.0.1:{port}/v1")
        server, url, bodies = target.server, target.url, target.bodies
        assert server is not None
        server.wait_ready(url, bodies, ht.API_KEY, timeout_s=60)
        procs.wrk(url, bodies, ht.API_KEY, 8, WARMUP_S, ht.LOAD_CPU, ht.LUA)
        before, cpu_before = _snapshot(server, out), server.cpu_seconds()
        stats = procs.wrk(url, bodies, ht.API_KEY, connections, seconds, ht.LOAD_CPU, ht.LUA)
        after, cpu_after = _snapshot(server, out), server.cpu_seconds()
    requests = stats["requests"]
    rows = []
    for key, total in after["cpu_ns"].items():
        spent = total - before["cpu_ns"].get(key, 0)
        calls = after["calls"][key] - before["calls"].get(key, 0)
        if calls:
            rows.append({
                "function": key,
                "us_per_request": round(spent / requests / 1000, 1),
                "us_per_call": round(spent / calls / 1000, 1),
                "calls": calls,
            })  # fmt: skip
    rows.sort(key=lambda row: -row["us_per_request"])
    return {
        "requests": requests,
        "req_per_s": round(requests / seconds),
        "server_cpu_us_per_request": round((cpu_after - cpu_before) / requests * 1e6, 1),
        "latency_us": stats["latency_us"],
        "rows": rows,
    }


def main(argv: list[str]) -> int:
    numbers = [a for a in argv if "=" not in a]
    env = dict(a.split("=", 1) for a in argv if "=" in a)
    seconds = float(numbers[0]) if numbers else 10.0
    connections = int(numbers[1]) if len(numbers) > 1 else 32
    result = run(seconds, connections, env)
    print(
        f"{result['requests']} requests at c={connections}, {result['req_per_s']} req/s; "
        f"server CPU per request (baseline) {result['server_cpu_us_per_request']} us"
    )
    print(f"{'us/request':>10} {'us/call':>9} {'calls':>8}  function")
    for row in result["rows"]:
        print(
            f"{row['us_per_request']:10.1f} {row['us_per_call']:9.1f} {row['calls']:8d}  "
            f"{row['function']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
