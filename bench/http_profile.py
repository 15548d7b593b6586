"""Where autoroute's time goes under load: py-spy on the server at saturation.

Starts the fast upstream and ``autoroute serve`` exactly as
``bench/http_overhead.py`` does (server on core 0, wrk and upstream on core 1),
drives it at saturation with wrk, and records the server with ``py-spy record``
for the same seconds. The collapsed stacks are then summed three ways, each as
a share of all samples: by the function on top of the stack (self time), by
every function on the stack (inclusive time), and by the package of the
topmost frame that belongs to a known area (service, bandit, providers,
fastapi/starlette, uvicorn, httpx/httpcore, pydantic, ...).

Not part of ``make bench``. Run ``python -m bench.http_profile [--gil] [seconds [connections]]``
(default 10 s at 32 connections; 1 connection shows the latency path). By
default py-spy samples wall-clock time on every thread, so a thread waiting for
the GIL is counted where it waits; ``--gil`` samples only the thread holding the
GIL, which is closer to where the CPU goes.
Needs ``py-spy`` (``pip install -e '.[bench]'``) and ptrace rights (root, or
CAP_SYS_PTRACE).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench import http_overhead as ho
from bench import http_targets as ht
from bench import procs

RESULTS = Path(__file__).resolve().parent / "results"

# Checked in order: the first package (a path prefix, or a component after "/")
# that matches a frame's file names its area.
AREAS = (
    ("autoroute service", "service/"),
    ("autoroute bandit", "bandit/"),
    ("autoroute providers", "providers/"),
    ("bench harness", "bench/"),
    ("vowpalwabbit", "vowpalwabbit"),
    ("pydantic", "pydantic"),
    ("fastapi/starlette", "fastapi"),
    ("fastapi/starlette", "starlette"),
    ("uvicorn", "uvicorn"),
    ("httpx/httpcore", "httpx"),
    ("httpx/httpcore", "httpcore"),
    ("anyio", "anyio"),
    ("redis", "redis"),
    ("prometheus_client", "prometheus_client"),
    ("json", "json"),
    ("logging", "logging"),
    ("asyncio", "asyncio"),
)
# Leaf frames of threads parked on a queue or lock. py-spy's idle detection
# misses these pure-Python waits (anyio's worker threads between jobs), so they
# are counted apart and the shares are taken over the busy samples only.
IDLE_LEAVES = {
    ("Condition.wait", "threading.py"),
    ("Event.wait", "threading.py"),
    ("Thread.join", "threading.py"),
    ("Condition._acquire_restore", "threading.py"),
}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse_collapsed(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw (collapsed) output: one ``frame;frame;... count`` per line."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            match = _FRAME.match(raw)
            frames.append((match["func"], match["file"]) if match else (raw, ""))
        stacks.append((frames, int(count)))
    return stacks


def area_of(frames: list[tuple[str, str]]) -> str:
    """The area of the innermost frame that belongs to a known one."""
    for _, file in reversed(frames):
        for area, needle in AREAS:
            if file.startswith(needle) or f"/{needle}" in file:
                return area
    return "other"


def summarise(stacks: list[tuple[list[tuple[str, str]], int]], top: int = 25) -> dict[str, Any]:
    """Self, inclusive and per-area shares of the busy samples, largest first."""
    idle = sum(count for frames, count in stacks if frames[-1] in IDLE_LEAVES)
    stacks = [(frames, count) for frames, count in stacks if frames[-1] not in IDLE_LEAVES]
    total = sum(count for _, count in stacks) or 1
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for frames, count in stacks:
        names = [f"{func} ({file})" for func, file in frames]
        self_time[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
        areas[area_of(frames)] += count

    def pct(counter: Counter[str], n: int) -> list[dict[str, Any]]:
        return [
            {"frame": k, "samples": v, "pct": round(100 * v / total, 1)}
            for k, v in counter.most_common(n)
        ]

    return {
        "samples": total,
        "idle_samples_excluded": idle,
        "areas": pct(areas, len(areas)),
        "self": pct(self_time, top),
        "inclusive": pct(inclusive, top),
    }


def record(
    seconds: float, connections: int, workdir: Path, gil_only: bool = False
) -> tuple[str, dict[str, Any]]:
    """Run autoroute under load and py-spy; return the raw stacks and wrk's figures."""
    spy = shutil.which("py-spy", path=str(ht.ROOT / ".venv" / "bin")) or shutil.which("py-spy")
    if not spy:
        raise procs.BenchError("py-spy not found: pip install -e '.[bench]'")
    raw = workdir / "autoroute.raw"
    up_port, port = procs.free_port(), procs.free_port()
    upstream_url = f"http://127.0.0.1:{up_port}/v1"
    upstream = procs.python_module("bench.fake_upstream_fast", "--port", str(up_port))
    env = ht.autoroute_environment(workdir, upstream_url)
    bodies = ht.write_bodies(workdir / "bodies.jsonl", "auto")
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with (
        procs.Server("upstream", upstream, {}, cpu=ht.LOAD_CPU, logdir=workdir) as up,
        procs.Server(
            "autoroute", ht.autoroute_command(port), env, cpu=ht.SERVER_CPU, logdir=workdir
        ) as server,
    ):
        up.wait_port(up_port, timeout_s=10)
        server.wait_ready(url, bodies, ht.API_KEY, timeout_s=60)
        procs.wrk(url, bodies, ht.API_KEY, 8, 2.0, cpu=ht.LOAD_CPU, lua=ht.LUA)
        argv = [spy, "record", "-p", str(server.proc.pid), "--subprocesses", "-r", "250"]
        # --nonblocking: sample without pausing the server. (--native needs pauses,
        # which cut throughput about tenfold here, so it is not offered.)
        argv += ["-d", f"{int(seconds)}", "-f", "raw", "-o", str(raw), "--nonblocking"]
        if gil_only:
            argv.append("--gil")
        # py-spy samples on core 1 beside wrk, so it does not take the server's core.
        spy_proc = subprocess.Popen(
            procs.pinned(argv, ht.LOAD_CPU), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        stats = procs.wrk(url, bodies, ht.API_KEY, connections, seconds, ht.LOAD_CPU, ht.LUA)
        _, err = spy_proc.communicate(timeout=seconds + 30)
    if not raw.exists():
        raise procs.BenchError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
    return raw.read_text(), stats


def print_summary(summary: dict[str, Any], stats: dict[str, Any]) -> None:
    lat = stats["latency_us"]
    print(f"wrk at c{stats['connections']}: {stats['rps']:.0f} req/s, p50 {lat['p50']} µs")
    idle = summary["idle_samples_excluded"]
    print(f"py-spy busy samples: {summary['samples']} (idle waits left out: {idle})")
    for title in ("areas", "self", "inclusive"):
        print(f"\n{title} (% of samples):")
        for row in summary[title]:
            print(f"  {row['pct']:5.1f}%  {row['frame']}")


def main(argv: list[str]) -> int:
    gil_only = "--gil" in argv
    argv = [a for a in argv if a != "--gil"]
    seconds = float(argv[0]) if argv else 10.0
    connections = int(argv[1]) if len(argv) > 1 else ho.SATURATION_CONNECTIONS
    procs.require_wrk()
    with TemporaryDirectory(prefix="autoroute-profile-") as tmp:
        raw, stats = record(seconds, connections, Path(tmp), gil_only)
    summary = summarise(parse_collapsed(raw))
    print_summary(summary, stats)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"profile-{stamp}.raw").write_text(raw)
    out = RESULTS / f"profile-{stamp}.json"
    out.write_text(json.dumps({"wrk": stats, "machine": procs.machine(), **summary}, indent=2))
    print(f"\nJSON: {out}\nraw stacks (flamegraph.pl input): {out.with_suffix('.raw')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
