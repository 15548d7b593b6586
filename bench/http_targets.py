"""The servers the HTTP benchmarks point wrk at, and how each one is started.

Every target serves ``POST /v1/chat/completions`` in front of the same fake
upstream: ``direct`` (the upstream itself), ``floor`` and its variants (a
one-route FastAPI passthrough, ``bench/floor_proxy.py``), ``autoroute`` (the real
``autoroute serve``, optionally through a ``bench.whatif_*`` launcher),
``autoroute_redis`` and ``litellm``. Servers are pinned to :data:`SERVER_CPU`;
wrk and the upstream run on :data:`LOAD_CPU`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.litellm import proxy as litellm_proxy

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bench" / "wrk" / "chat.lua"
SERVER_CPU = "0"
LOAD_CPU = "1"
API_KEY = "sk-bench-0001"

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


def _start_direct(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
    bodies = write_bodies(workdir / "bodies-direct.jsonl", "fake-model")
    return Target("direct", f"{upstream_url}/chat/completions", bodies, "")


def autoroute_starter(
    name: str, launcher: str | None, extra_env: dict[str, str] | None = None
) -> Callable[[ExitStack, Path, str], Target]:
    """Start ``autoroute serve``, or the same through a launcher module (``bench.whatif_*``,
    ``bench.cpu_timers``) that takes autoroute's arguments."""

    def start(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
        port = procs.free_port()
        (workdir / name).mkdir()
        env = autoroute_environment(workdir / name, upstream_url) | (extra_env or {})
        argv = autoroute_command(port)
        if launcher is not None:
            argv = procs.python_module(launcher, *argv[1:])
        server = stack.enter_context(procs.Server(name, argv, env, cpu=SERVER_CPU, logdir=workdir))
        bodies = write_bodies(workdir / f"bodies-{name}.jsonl", "auto")
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        return Target(name, url, bodies, API_KEY, server)

    return start


def _start_autoroute_base(stack: ExitStack, workdir: Path, upstream_url: str) -> Target:
    """autoroute from another source tree, beside ``autoroute`` in the same run: an A/B.

    ``BENCH_BASE_TREE`` names the tree, typically ``git worktree add --detach
    /tmp/base <commit>``; its ``service``, ``providers`` and ``bandit`` come first
    on ``PYTHONPATH``, ahead of the editable install of this checkout.
    """
    tree = os.environ.get("BENCH_BASE_TREE")
    if not tree or not (Path(tree) / "service" / "app.py").is_file():
        raise procs.BenchError("autoroute_base needs BENCH_BASE_TREE=<an autoroute source tree>")
    start = autoroute_starter("autoroute_base", None, {"PYTHONPATH": tree})
    return start(stack, workdir, upstream_url)


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
    "autoroute": autoroute_starter("autoroute", None),
    "litellm": _start_litellm,
    "floor_aiohttp": _floor("floor_aiohttp", "aiohttp"),
    # Not run by default: the floor's httpx client on aiohttp's transport, and
    # autoroute with Redis as its store instead of the embedded one.
    "floor_httpx_aiohttp": _floor("floor_httpx_aiohttp", "httpx_aiohttp"),
    "autoroute_aiohttp_transport": autoroute_starter(
        "autoroute_aiohttp_transport", "bench.whatif_aiohttp_transport"
    ),
    "autoroute_redis": _start_autoroute_redis,
    # autoroute with the upstream client's direct aiohttp POST turned off, so
    # non-streamed calls go through httpx's ``post`` (service/upstream.py): an A/B.
    "autoroute_httpx_post": autoroute_starter(
        "autoroute_httpx_post", None, {"AUTOROUTE_UPSTREAM_FAST": "0"}
    ),
    # autoroute with the chat fast lane off (service/fastlane.py): its A/B in one run.
    "autoroute_no_fast_lane": autoroute_starter(
        "autoroute_no_fast_lane", None, {"AUTOROUTE_FAST_LANE": "0"}
    ),
    # autoroute with learning off (AUTOROUTE_LEARN=false): decisions and reward
    # events are still logged, but no learner runs in the serving process, so the
    # pair autoroute / autoroute_frozen shows what in-process learning costs.
    "autoroute_frozen": autoroute_starter("autoroute_frozen", None, {"AUTOROUTE_LEARN": "false"}),
    # autoroute from the source tree in BENCH_BASE_TREE (another commit): before/after.
    "autoroute_base": _start_autoroute_base,
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
