"""The application factory and its lifespan.

``create_app(settings)`` builds the FastAPI app (middleware, the one error
handler, the routers); the lifespan builds everything with a lifetime (the
store, the shared ``httpx.AsyncClient``, the provider registry, the router,
the learning loop) and puts it on ``app.state``, where the ``Annotated``
dependencies of :mod:`service.deps` reach it. Nothing lives at module level,
so tests build as many isolated apps as they like.

Learning runs beside serving. Embedded (no ``AUTOROUTE_REDIS_URL``): the
learner is a task in this process and the router learns in place. Redis: a
separate ``autoroute learner`` learns, and a reloader here hot-swaps its
snapshots into the router.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bandit.config import BanditConfig
from bandit.router import Router
from providers.catalog import load_catalog
from providers.circuit import CircuitBreaker
from providers.fallback import FallbackPolicy
from providers.registry import ProviderKeys, ProviderRegistry
from service.auth import DEFAULT_KEY_FILE, KeyRing
from service.circuits import LocalCircuitStore, TolerantCircuitStore
from service.errors import install_error_handler
from service.fastlane import FastLane, FastRoute
from service.feedback import FeedbackService
from service.gc_tuning import frozen_gc
from service.insights import Insights
from service.insights_store import LocalStats, RedisStats, StatsStore
from service.learning import start_learning
from service.metrics import Metrics
from service.middleware import RequestContextMiddleware
from service.pipeline import ChatPipeline
from service.privacy import load_or_create_secret
from service.ratelimit import build_rate_limiter
from service.recorder import DecisionRecorder
from service.routes import admin, chat, feedback, health, insights, models, native
from service.schemas import ChatCompletionRequest, NativeChatRequest
from service.settings import Settings
from service.store.base import Store
from service.store.embedded import EmbeddedStore
from service.store.redis_store import RedisStore
from service.upstream import upstream_client
from service.writebehind import RequestLog

logger = logging.getLogger(__name__)

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; ``settings`` default to the ``AUTOROUTE_*`` environment."""
    settings = settings or Settings()
    app = FastAPI(
        title="autoroute",
        version=VERSION,
        summary="Self-hosted LLM router (OpenAI- and RoutePlex-compatible).",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    install_error_handler(app)
    for module in (chat, native, models, feedback, insights, admin, health):
        app.include_router(module.router)
    if settings.fast_lane:
        # Innermost of ours: CORS, metrics, the request id and the body cap wrap it.
        app.add_middleware(
            FastLane,
            routes=[
                FastRoute.of(
                    chat.router, "/v1/chat/completions", ChatCompletionRequest, chat.answer
                ),
                FastRoute.of(native.router, "/api/v1/chat", NativeChatRequest, native.answer),
            ],
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Autoroute-Strategy",
                "X-RoutePlex-Strategy",
            ],
            expose_headers=[
                "X-Autoroute-Request-Id",
                "X-Autoroute-Model",
                "X-Autoroute-Attempts",
                "X-Autoroute-Strategy",
                "X-Autoroute-Model-Version",
            ],
        )
    # Outermost: every request, even a refused one, gets its id first; every
    # one the app answers is counted.
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def open_store(settings: Settings) -> Store:
    """Redis when ``AUTOROUTE_REDIS_URL`` is set, else SQLite in the data dir."""
    if settings.redis_url is not None:
        return RedisStore.from_url(
            settings.redis_url, shards=settings.shards, decision_grace_s=settings.feedback_grace_s
        )
    return EmbeddedStore(settings.data_dir, decision_grace_s=settings.feedback_grace_s)


def bandit_config(settings: Settings) -> BanditConfig:
    """The learning core's settings, with the gating thresholds from ours."""
    return BanditConfig(
        warmup_samples=settings.gate_warmup_samples,
        established_samples=settings.gate_established_samples,
        max_account_weight=settings.gate_max_account_weight,
    )


def provider_keys(settings: Settings) -> ProviderKeys:
    keys = {name: secret.get_secret_value() for name, secret in settings.provider_keys.items()}
    return ProviderKeys(**keys)


@dataclass(frozen=True, slots=True)
class _Core:
    store: Store
    registry: ProviderRegistry
    router: Router
    metrics: Metrics


async def _build_core(settings: Settings, stack: AsyncExitStack) -> _Core:
    store = open_store(settings)
    stack.push_async_callback(store.close)
    client = upstream_client(settings.fallback_total_timeout_s)
    stack.push_async_callback(client.aclose)
    catalog = load_catalog(settings.catalog)
    registry = ProviderRegistry(catalog, provider_keys(settings), client)
    if registry.simulated:
        logger.warning(
            "SIMULATED PROVIDER: no provider key is set, answers are synthetic. "
            "Set AUTOROUTE_OPENAI_API_KEY, AUTOROUTE_ANTHROPIC_API_KEY or "
            "AUTOROUTE_GOOGLE_API_KEY for real models."
        )
    routable = registry.available_models() or catalog.models
    router = Router(routable, bandit_config(settings), random.Random(settings.seed))  # noqa: S311
    metrics = Metrics()
    stack.callback(metrics.close)
    return _Core(store, registry, router, metrics)


async def _ensure_keys(settings: Settings, keyring: KeyRing) -> None:
    if settings.static_keys:
        return
    key = await keyring.ensure_default_key(settings.data_dir)
    if key is not None:
        # Printed once, never logged; it stays in a 0600 file for later.
        print(
            f"\nautoroute: created account 'default' with API key\n\n    {key}\n\n"
            f"(kept in {settings.data_dir / DEFAULT_KEY_FILE}; it is not shown again)\n",
            file=sys.stderr,
            flush=True,
        )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with AsyncExitStack() as stack:
        secret = _hash_secret(settings)
        core = await _build_core(settings, stack)
        store = core.store
        insights_ = await _build_insights(settings, stack)
        circuits = TolerantCircuitStore(store)
        breaker = CircuitBreaker(LocalCircuitStore(circuits) if settings.embedded else circuits)
        # Closed after the pipeline drains (exit stack: last in, first out).
        request_log = RequestLog(store, core.metrics, settings.reward_window_s)
        if settings.embedded:
            # One process: a feedback call that misses a queued decision flushes
            # it first. With Redis it may reach another worker, so write at once.
            request_log.start()
        stack.push_async_callback(request_log.close)
        pipeline = _build_pipeline(settings, core, breaker, insights_, secret, request_log)
        stack.push_async_callback(_drain_within, pipeline, settings.shutdown_timeout_s)
        keyring = KeyRing(secret, store, settings.static_keys)
        await _ensure_keys(settings, keyring)
        state = app.state
        state.store, state.catalog, state.router = store, core.registry.catalog, core.router
        state.metrics, state.pipeline, state.keyring = core.metrics, pipeline, keyring
        state.insights = insights_
        state.feedback = FeedbackService(
            store, insights_, core.metrics, settings.reward_window_s, request_log
        )
        state.registry, state.breaker = core.registry, breaker
        state.rate_limiter = build_rate_limiter(
            settings.redis_url, settings.rate_limit_rps, settings.rate_limit_burst
        )
        if state.rate_limiter is not None:
            stack.push_async_callback(state.rate_limiter.close)
        await start_learning(settings, store, core.router, core.metrics, stack)
        if settings.gc_freeze:
            stack.enter_context(frozen_gc())  # last: everything built above is frozen
        yield


def _hash_secret(settings: Settings) -> bytes:
    configured = settings.hash_secret.get_secret_value() if settings.hash_secret else None
    if configured is None and not settings.embedded:
        logger.warning(
            "AUTOROUTE_HASH_SECRET is unset: using the one generated in %s. Hosts that "
            "do not share that folder must all set the same AUTOROUTE_HASH_SECRET, or "
            "API keys created on one will not work on another.",
            settings.data_dir,
        )
    return load_or_create_secret(settings.data_dir, configured)


async def _build_insights(settings: Settings, stack: AsyncExitStack) -> Insights:
    stats: StatsStore = (
        LocalStats(settings.data_dir / "insights.db")
        if settings.redis_url is None
        else RedisStats.from_url(settings.redis_url)
    )
    stack.push_async_callback(stats.close)
    return Insights(stats, settings.gate_warmup_samples, settings.gate_established_samples)


def _build_pipeline(
    settings: Settings,
    core: _Core,
    breaker: CircuitBreaker,
    insights: Insights,
    secret: bytes,
    request_log: RequestLog,
) -> ChatPipeline:
    return ChatPipeline(
        catalog=core.registry.catalog,
        router=core.router,
        providers=core.registry,
        fallback=FallbackPolicy(
            settings.fallback_max_attempts,
            settings.fallback_attempt_timeout_s,
            settings.fallback_total_timeout_s,
        ),
        breaker=breaker,
        metrics=core.metrics,
        recorder=DecisionRecorder(
            core.store, core.metrics, insights, secret, settings.reward_window_s, request_log
        ),
    )


async def _drain_within(pipeline: ChatPipeline, timeout_s: float) -> None:
    """Flush pending decision and reward writes at shutdown, bounded by the deadline."""
    try:
        async with asyncio.timeout(timeout_s):
            await pipeline.drain()
    except TimeoutError:
        logger.error("shutdown: reward events still pending after %.0f s, exiting", timeout_s)
