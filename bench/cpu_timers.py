"""Launcher: ``autoroute`` with CPU-time accumulators around the request path's functions.

A measurement aid, not a way to run the service. Before starting the real
``autoroute`` command line it wraps the functions in :data:`SYNC` and
:data:`ASYNC` so that each adds the CPU time of the serving thread
(``time.thread_time_ns``) it spent inside them, and counts its calls. An
``async`` function is timed step by step, from each resume to its next
suspension, so awaiting the upstream counts nothing but the work done around it;
nested timed functions are included in their callers (inclusive time).

``SIGUSR1`` (and exit) writes the totals as JSON to ``$CPU_TIMERS_OUT``;
:mod:`bench.cpu_by_function` takes two snapshots around a wrk run and divides by
the requests served. Each timed call costs two ``thread_time_ns`` reads
(~0.6 us each on the VM of BENCHMARKS.md), which the small rows carry.

Usage: ``python -m bench.cpu_timers serve --port 8000`` (the arguments of ``autoroute``).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Generator
from typing import Any

CPU_NS: defaultdict[str, int] = defaultdict(int)
CALLS: defaultdict[str, int] = defaultdict(int)
_now = time.thread_time_ns

# (module, attribute path) of plain functions and methods.
SYNC = (
    ("service.pipeline", "extract_features"),
    ("service.pipeline", "ChatPipeline.plan"),
    ("bandit.router", "Router.decide"),
    ("bandit.router", "Router._global_quality"),
    ("bandit.router", "Router._account_quality"),
    ("bandit.router", "Router._explore"),
    ("bandit.router", "Router._sample"),
    ("bandit.router", "Router.learn"),
    ("bandit.policy", "QualityPolicy.predict"),
    ("bandit.policy", "QualityPolicy.learn"),
    ("bandit.rewards", "auto_quality_signal"),
    ("service.recorder", "message_hash"),
    ("service.recorder", "DecisionRecorder._record"),
    ("service.fastlane", "_parse"),
    ("service.routes.chat", "openai_completion"),
    ("service.routes.chat", "route_headers"),
    ("service.learner", "Learner._apply"),
    ("service.learner_policies", "Policies.export"),
    ("providers._http", "parse_json_object"),
)
# The same for coroutine functions.
ASYNC = (
    ("service.middleware", "RequestContextMiddleware.__call__"),
    ("service.fastlane", "FastLane.__call__"),
    ("service.fastlane", "build_chat_context"),
    ("service.routes.chat", "answer"),
    ("service.pipeline", "ChatPipeline.complete"),
    ("service.pipeline", "complete_with_fallback"),
    ("providers.openai", "OpenAIProvider.complete"),
    ("providers.openai", "post_json"),
    ("service.upstream", "UpstreamClient.post_json_fast"),
    ("providers.circuit", "CircuitBreaker.allow"),
    ("providers.circuit", "CircuitBreaker.record_success"),
    ("service.auth", "KeyRing.account_for"),
    ("service.recorder", "DecisionRecorder.served"),
    ("starlette.responses", "Response.__call__"),
    ("service.writebehind", "RequestLog._write_batch"),
    ("service.learner", "Learner._step"),
    ("service.learner", "Learner._read"),
    ("service.learner", "Learner._process"),
    ("service.learner", "Learner._commit"),
)


class _Timed:
    """Await ``coro``, adding the CPU time of each of its steps to ``key``."""

    __slots__ = ("coro", "key")

    def __init__(self, coro: Coroutine[Any, Any, Any], key: str) -> None:
        self.coro, self.key = coro, key

    def __await__(self) -> Generator[Any, Any, Any]:
        steps, key = self.coro.__await__(), self.key
        CALLS[key] += 1
        value: Any = None
        error: BaseException | None = None
        while True:
            began = _now()
            try:
                yielded = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as done:
                CPU_NS[key] += _now() - began
                return done.value
            except BaseException:
                CPU_NS[key] += _now() - began
                raise
            CPU_NS[key] += _now() - began
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # thrown in by the event loop: pass it on
                value, error = None, exc


def _timed_sync(fn: Callable[..., Any], key: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        CALLS[key] += 1
        began = _now()
        try:
            return fn(*args, **kwargs)
        finally:
            CPU_NS[key] += _now() - began

    return timed


def _timed_async(fn: Callable[..., Any], key: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        return _Timed(fn(*args, **kwargs), key)

    return timed


def install() -> None:
    """Wrap every function of :data:`SYNC` and :data:`ASYNC` where it is looked up."""
    for entries, wrapper in ((SYNC, _timed_sync), (ASYNC, _timed_async)):
        for module_name, path in entries:
            owner: Any = importlib.import_module(module_name)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            setattr(owner, name, wrapper(getattr(owner, name), f"{module_name}:{path}"))


def dump(*_: object) -> None:
    """Write the totals so far to ``$CPU_TIMERS_OUT``."""
    out = os.environ.get("CPU_TIMERS_OUT", "cpu-timers.json")
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"cpu_ns": dict(CPU_NS), "calls": dict(CALLS)}, handle)


if __name__ == "__main__":
    install()
    atexit.register(dump)
    signal.signal(signal.SIGUSR1, dump)
    from service.cli import main

    sys.exit(main(sys.argv[1:]))
