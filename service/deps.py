"""FastAPI dependencies: what the lifespan built, reached through ``Annotated`` aliases.

Routes declare what they need (``account: AccountDep``, ``pipeline:
PipelineDep``) and never touch ``app.state`` themselves; tests build an app
with their own :class:`~service.settings.Settings` and get the same wiring.
The chat routes take one :class:`ChatContext` instead (auth, rate limit,
strategy header, pipeline, request id), built by :func:`build_chat_context`,
which :mod:`service.fastlane` calls too, so both paths refuse alike.

Every dependency is ``async def`` even when it does no I/O: FastAPI runs a
plain ``def`` dependency in the threadpool, and that hand-off per dependency
per request was the largest single cost in the request profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.datastructures import State

from bandit.router import Router
from bandit.types import STRATEGIES, Strategy
from providers.catalog import Catalog
from providers.circuit import CircuitBreaker
from providers.registry import ProviderRegistry
from service.auth import KeyRing, bearer_token, check_admin
from service.errors import ValidationFailed
from service.feedback import FeedbackService
from service.insights import Insights
from service.metrics import Metrics
from service.pipeline import ChatPipeline
from service.ratelimit import enforce
from service.settings import Settings
from service.store.base import Store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_registry(request: Request) -> ProviderRegistry:
    registry: ProviderRegistry = request.app.state.registry
    return registry


async def get_breaker(request: Request) -> CircuitBreaker:
    breaker: CircuitBreaker = request.app.state.breaker
    return breaker


async def get_router(request: Request) -> Router:
    router: Router = request.app.state.router
    return router


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_pipeline(request: Request) -> ChatPipeline:
    pipeline: ChatPipeline = request.app.state.pipeline
    return pipeline


async def get_keyring(request: Request) -> KeyRing:
    keyring: KeyRing = request.app.state.keyring
    return keyring


async def get_insights(request: Request) -> Insights:
    insights: Insights = request.app.state.insights
    return insights


async def get_feedback(request: Request) -> FeedbackService:
    feedback: FeedbackService = request.app.state.feedback
    return feedback


async def get_request_id(request: Request) -> str:
    """The id the middleware gave this request; chat requests reuse it as decision id."""
    return str(request.state.request_id)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
RouterDep = Annotated[Router, Depends(get_router)]
RegistryDep = Annotated[ProviderRegistry, Depends(get_registry)]
BreakerDep = Annotated[CircuitBreaker, Depends(get_breaker)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
PipelineDep = Annotated[ChatPipeline, Depends(get_pipeline)]
KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
InsightsDep = Annotated[Insights, Depends(get_insights)]
FeedbackDep = Annotated[FeedbackService, Depends(get_feedback)]
RequestIdDep = Annotated[str, Depends(get_request_id)]


async def authenticate(app_state: State, authorization: str | None) -> str:
    """The calling account, from ``Authorization: Bearer <key>``, after its rate limit.

    Raises:
        InvalidApiKey: 401, no live key in the header.
        RateLimited: 429, the key's bucket is empty.
    """
    keyring: KeyRing = app_state.keyring
    account = await keyring.account_for(authorization)
    token = bearer_token(authorization)
    limiter = getattr(app_state, "rate_limiter", None)
    if limiter is not None and token is not None:
        await enforce(limiter, keyring.key_id(token))
    return account


async def get_account(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> str:
    """The calling account, from ``Authorization: Bearer <key>`` (401 otherwise)."""
    account = await authenticate(request.app.state, authorization)
    request.state.account = account
    return account


AccountDep = Annotated[str, Depends(get_account)]


async def require_admin(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Guard of the admin API: ``Authorization: Bearer <AUTOROUTE_ADMIN_TOKEN>``."""
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    check_admin(token, authorization)


AdminDep = Annotated[None, Depends(require_admin)]


def parse_strategy(value: str | None) -> Strategy:
    """A strategy name, defaulting to ``auto``; 400 ``validation_error`` if unknown."""
    if value is None or value == "":
        return "auto"
    for strategy in STRATEGIES:
        if value.lower() == strategy:
            return strategy
    raise ValidationFailed(
        f"unknown strategy {value!r}; use one of {', '.join(STRATEGIES)}",
        details={"strategy": value},
    )


async def header_strategy(
    x_autoroute_strategy: Annotated[str | None, Header()] = None,
    x_routeplex_strategy: Annotated[str | None, Header()] = None,
) -> Strategy:
    """Strategy from ``X-Autoroute-Strategy`` (or RoutePlex's ``X-RoutePlex-Strategy``)."""
    return parse_strategy(x_autoroute_strategy or x_routeplex_strategy)


HeaderStrategyDep = Annotated[Strategy, Depends(header_strategy)]


@dataclass(frozen=True, slots=True)
class ChatContext:
    """Everything a chat route needs besides its body."""

    account: str
    strategy: Strategy
    pipeline: ChatPipeline
    request_id: str


async def build_chat_context(
    app_state: State,
    request_state: dict[str, Any],
    authorization: str | None,
    autoroute_strategy: str | None,
    routeplex_strategy: str | None,
) -> ChatContext:
    """Authenticate, rate-limit and read the strategy headers, in that order.

    Shared by the chat routes' dependency and :mod:`service.fastlane`, so both
    paths refuse a request with the same error first.
    """
    account = await authenticate(app_state, authorization)
    request_state["account"] = account
    strategy = parse_strategy(autoroute_strategy or routeplex_strategy)
    pipeline: ChatPipeline = app_state.pipeline
    return ChatContext(account, strategy, pipeline, str(request_state["request_id"]))


async def chat_context(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_autoroute_strategy: Annotated[str | None, Header()] = None,
    x_routeplex_strategy: Annotated[str | None, Header()] = None,
) -> ChatContext:
    """One dependency for the chat routes instead of five (each one costs a
    ``solve_dependencies`` pass per request)."""
    return await build_chat_context(
        request.app.state,
        request.scope["state"],
        authorization,
        x_autoroute_strategy,
        x_routeplex_strategy,
    )


ChatContextDep = Annotated[ChatContext, Depends(chat_context)]
