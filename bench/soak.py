"""``make soak``: steady traffic with feedback while faults are injected, on loopback.

Starts its own ``redis-server`` (append-only, so a restart keeps the data), a
fake OpenAI-compatible upstream serving three catalog models, ``autoroute
serve`` against that Redis, and ``autoroute learner``. While
:class:`~bench.soak_traffic.Traffic` sends chats and ratings, the schedule
injects provider 5xx bursts (some models, then every model), provider timeouts
(one model hangs, another answers late), a Redis restart with two seconds of
downtime, and a SIGKILL of the learner (restarted five seconds later). Then it
waits for the learner to drain and prints a table: requests served, errors by
kind, the client-visible failure rate, latency, and rewards accepted by the API
(its ``autoroute_rewards_total``) against rewards applied (distinct event ids
in the store's applied ledger), which must be equal once drained.

Usage: ``python -m bench.soak [--seconds 75] [--rate 40] [--workers 16]``.
Exit status 1 if accepted and applied rewards differ after the drain, or if any
answer was a 500.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
import redis

from bench.soak_traffic import Tally, Traffic
from service.store.redis_keys import Keys
from tests.utils.fake_upstream import FakeUpstream, fake_upstream
from tests.utils.redis_server import RedisServer, free_port

KEY = "sk-soak-0123456789abcdef"
SHARDS = 4
CATALOG = """\
models:
{entries}
"""
ENTRY = """\
  - id: soak-{name}
    provider: openai_compatible
    base_url: {base}
    upstream_model: {name}
    input_usd_per_mtok: {price}
    output_usd_per_mtok: {price}
    tier: {tier}
"""
REWARDS = re.compile(r'^autoroute_rewards_total\{kind="[^"]*"\} ([0-9.e+]+)$', re.M)


class Proc:
    """A child process in its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = logdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=5)


def environment(redis_url: str, catalog: Path, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOROUTE_", "PROMETHEUS_"))}
    return env | {
        "AUTOROUTE_REDIS_URL": redis_url,
        "AUTOROUTE_CATALOG": str(catalog),
        "AUTOROUTE_DATA_DIR": str(data_dir),
        "AUTOROUTE_API_KEYS": f"{KEY}:soak",
        "AUTOROUTE_HASH_SECRET": "soak-hash-secret-0123456789",
        "AUTOROUTE_SHARDS": str(SHARDS),
        "AUTOROUTE_FALLBACK_ATTEMPT_TIMEOUT_S": "1",
        "AUTOROUTE_FALLBACK_TOTAL_TIMEOUT_S": "3",
    }


def wait_ready(api: Proc, base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.proc is not None and api.proc.poll() is not None:
            sys.exit(f"autoroute serve exited:\n{api.log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit(f"autoroute serve not ready in {timeout_s:g} s")


Step = tuple[float, str, Callable[[], Awaitable[None]]]


def schedule(
    upstream: FakeUpstream, server: RedisServer, learner: Proc, scale: float
) -> list[Step]:
    """The faults, at times scaled from a 75-second run."""

    async def burst_some() -> None:
        for name in ("large", "medium"):
            upstream.set(name, mode="error", status=503)

    async def burst_all_models() -> None:
        for name in ("large", "medium", "small"):
            upstream.set(name, mode="error", status=503)

    async def heal() -> None:
        upstream.reset()

    async def timeouts() -> None:
        upstream.set("large", mode="hang")
        upstream.set("medium", delay_s=1.5)

    async def redis_restart() -> None:
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(server.restart)

    async def kill_learner() -> None:
        learner.signal(signal.SIGKILL)

    async def start_learner() -> None:
        learner.start()

    steps: list[Step] = [
        (8, "provider timeouts: large hangs, medium answers 1.5 s late", timeouts),
        (16, "providers healthy again", heal),
        (20, "provider 5xx burst: large and medium answer 503", burst_some),
        (26, "providers healthy again", heal),
        (30, "Redis restart (2 s down)", redis_restart),
        (38, "SIGKILL the learner", kill_learner),
        (43, "learner restarted", start_learner),
        (50, "provider 5xx burst: every model answers 503", burst_all_models),
        (52, "providers healthy again", heal),
    ]
    return [(t * scale, what, action) for t, what, action in steps]


async def inject(steps: list[Step], started: float) -> list[tuple[float, str]]:
    """Run the steps on time; returns when each one started (monotonic) and what it was."""
    done = []
    for at, what, action in steps:
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        done.append((time.monotonic(), what))
        await action()
    return done


def timeline(tally: Tally, log: list[tuple[float, str]], started: float) -> str:
    """Each fault with the client-visible failures until the next one."""
    bounds = [(started, "steady traffic"), *log, (float("inf"), "")]
    lines = []
    for (t0, what), (t1, _) in zip(bounds, bounds[1:], strict=False):
        failed = sum(1 for t in tally.failures_at if t0 <= t < t1)
        lines.append(f"t={t0 - started:5.1f}s  {what:<60} failures until next step: {failed}")
    return "\n".join(lines)


def accepted(base: str) -> int:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    return int(sum(float(v) for v in REWARDS.findall(text)))


def ledger(redis_url: str) -> dict[str, int]:
    """Distinct applied event ids, ledger outcomes, backlog and dead letters."""
    keys = Keys()
    client = redis.Redis.from_url(redis_url)
    try:
        shards = [keys.shard(n) for n in range(SHARDS)]
        out = {"applied": sum(int(client.zcard(k.applied)) for k in shards)}
        out["dead letters"] = sum(int(client.xlen(k.dead)) for k in shards)
        for k in shards:
            for outcome, n in client.hgetall(k.stats).items():
                name = f"ledger {outcome.decode()}"
                out[name] = out.get(name, 0) + int(n)
        return out
    finally:
        client.close()


def drain(base: str, redis_url: str, timeout_s: float) -> tuple[int, dict[str, int], float]:
    """Wait until applied == accepted (twice in a row); returns the last reading."""
    started = time.monotonic()
    deadline = started + timeout_s
    streak = 0
    while True:
        n_accepted, book = accepted(base), ledger(redis_url)
        streak = streak + 1 if book["applied"] == n_accepted else 0
        if streak >= 2 or time.monotonic() > deadline:
            return n_accepted, book, time.monotonic() - started
        time.sleep(0.5)


def lost_writes(api_log: Path) -> int:
    """Decision logs and reward events the API could not write (it logs each one)."""
    text = api_log.read_text(errors="replace")
    return text.count("could not log decision") + text.count("could not publish")


def table(
    tally: Tally, n_accepted: int, book: dict[str, int], drained_s: float, seconds: float
) -> str:
    failures = tally.requests - tally.served
    rows = [
        ("duration of traffic", f"{seconds:.0f} s"),
        ("requests sent (chat + feedback)", f"{tally.requests}"),
        ("requests served (2xx)", f"{tally.served} ({tally.served / seconds:.1f}/s)"),
        ("client-visible failure rate", f"{failures / max(1, tally.requests):.2%} ({failures})"),
    ]
    rows += [(f"errors: {kind}", str(n)) for kind, n in sorted(tally.errors().items())]
    rows += [
        ("chat latency p50 / p99", f"{tally.p(0.5) * 1000:.0f} / {tally.p(0.99) * 1000:.0f} ms"),
        ("rewards accepted (API)", str(n_accepted)),
        ("rewards applied (ledger)", str(book["applied"])),
        ("accepted == applied", f"{'yes' if n_accepted == book['applied'] else 'NO'}"),
        ("decision/reward writes lost (API log)", str(book.get("lost writes", 0))),
        ("drain after traffic stopped", f"{drained_s:.1f} s"),
    ]
    rows += [(k, str(n)) for k, n in sorted(book.items()) if k not in ("applied", "lost writes")]
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=75.0, help="traffic duration")
    p.add_argument("--rate", type=float, default=40.0, help="chat requests per second")
    p.add_argument("--workers", type=int, default=16, help="concurrent clients")
    p.add_argument("--drain", type=float, default=60.0, help="max seconds to drain")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the logs and Redis files")
    return p.parse_args(argv)


def write_catalog(path: Path, base: str) -> None:
    entries = [
        ENTRY.format(name=name, base=base, price=price, tier=tier)
        for name, price, tier in (("large", 5.0, 1), ("medium", 0.5, 2), ("small", 0.1, 3))
    ]
    path.write_text(CATALOG.format(entries="".join(entries)), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    root = Path(tempfile.mkdtemp(prefix="autoroute-soak-"))
    with fake_upstream() as up:
        write_catalog(root / "catalog.yaml", up.base_url)
        server = RedisServer.start(root / "redis")
        env = environment(server.url, root / "catalog.yaml", root / "data")
        port = free_port()
        cli = [sys.executable, "-m", "service.cli"]
        api = Proc("api", [*cli, "serve", "--port", str(port), "--log-level", "warning"], env, root)
        learner_argv = [*cli, "learner", "--consumer", "soak-learner", "--lease-ttl-ms", "3000"]
        learner = Proc("learner", [*learner_argv, "--claim-idle-ms", "3000"], env, root)
        base = f"http://127.0.0.1:{port}"
        try:
            api.start()
            learner.start()
            wait_ready(api, base)
            traffic = Traffic(base, KEY, args.rate, args.workers, args.seed)
            steps = schedule(up, server, learner, args.seconds / 75.0)
            started = time.monotonic()
            tally, log = asyncio.run(_run(traffic, steps, args.seconds, started))
            n_accepted, book, drained_s = drain(base, server.url, args.drain)
            book["lost writes"] = lost_writes(api.log_path)
        finally:
            learner.stop()
            api.stop()
            server.stop()
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
        print(timeline(tally, log, started))
        if args.keep:
            print(f"logs and Redis files kept in {root}")
        print(table(tally, n_accepted, book, drained_s, args.seconds))
    internal = sum(n for kind, n in tally.errors().items() if " 500 " in f" {kind.split(': ')[1]} ")
    return 0 if n_accepted == book["applied"] and internal == 0 else 1


async def _run(
    traffic: Traffic, steps: list[Step], seconds: float, started: float
) -> tuple[Tally, list[tuple[float, str]]]:
    faults = asyncio.create_task(inject(steps, started))
    tally = await traffic.run(seconds)
    return tally, await faults


if __name__ == "__main__":
    sys.exit(main())
