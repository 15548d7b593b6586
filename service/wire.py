"""Response bodies and headers of both APIs, rendered from pipeline results.

Pure functions from :mod:`service.pipeline` results to JSON-ready dicts, so
the OpenAI and RoutePlex shapes live in one place and routes stay thin.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from providers.base import Usage
from providers.catalog import ModelSpec
from service.errors import meta
from service.pipeline import Completion, Outcome


class FastJSONResponse(JSONResponse):
    """``JSONResponse`` rendered by orjson (the same compact UTF-8 JSON, faster)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


SIMULATED_NOTE = "simulated provider: synthetic answer (no provider key configured)"
_OPENAI_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


def openai_finish(reason: str | None) -> str:
    """Our finish reason in OpenAI's vocabulary (``error`` never reaches a success)."""
    return _OPENAI_FINISH.get(reason or "stop", "stop")


def route_headers(outcome: Outcome) -> dict[str, str]:
    """The audit headers every answered chat request carries."""
    headers = {
        "X-Autoroute-Request-Id": outcome.request_id,
        "X-Autoroute-Model": outcome.model.id,
        "X-Autoroute-Attempts": outcome.attempts_header,
        "X-Autoroute-Model-Version": outcome.decision.model_version,
        "X-Autoroute-Strategy": outcome.strategy,
    }
    if outcome.simulated:
        headers["X-Autoroute-Simulated"] = "true"
    return headers


def autoroute_info(outcome: Outcome, cost_usd: float) -> dict[str, Any]:
    """How the request was routed: the ``autoroute`` extension of a response."""
    info: dict[str, Any] = {
        "request_id": outcome.request_id,
        "query_type": outcome.features.query_type,
        "stage": outcome.decision.stage,
        "model_version": outcome.decision.model_version,
        "attempts": [{"model": a.model_id, "error": a.error_kind} for a in outcome.attempts],
        "fallback_used": outcome.fallback_used,
        "cost_usd": cost_usd,
        "simulated": outcome.simulated,
    }
    if outcome.simulated:
        info["note"] = SIMULATED_NOTE
    return info


def openai_usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def openai_completion(done: Completion) -> dict[str, Any]:
    """A ``chat.completion`` object; ``model`` is the model that actually answered."""
    outcome, result = done.outcome, done.result
    return {
        "id": outcome.request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": outcome.model.id,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text, "refusal": None},
                "finish_reason": openai_finish(result.finish_reason),
                "logprobs": None,
            }
        ],
        "usage": openai_usage(result.usage),
        "system_fingerprint": None,
        "autoroute": autoroute_info(outcome, done.cost_usd),
    }


def openai_chunk(
    outcome: Outcome, created: int, delta: dict[str, Any], finish: str | None
) -> dict[str, Any]:
    """One ``chat.completion.chunk``."""
    return {
        "id": outcome.request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": outcome.model.id,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def native_usage(usage: Usage, cost_usd: float) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": cost_usd,
    }


def native_chat(done: Completion, routing_mode: str) -> dict[str, Any]:
    """The ``data`` of a native chat answer, as the RoutePlex SDK reads it."""
    outcome, result = done.outcome, done.result
    return {
        "id": outcome.request_id,
        "output": result.text,
        "model_used": outcome.model.id,
        "provider": outcome.model.provider,
        "routing_mode": routing_mode,
        "fallback_used": outcome.fallback_used,
        "latency_ms": round(result.latency_ms),
        "finish_reason": result.finish_reason,
        "usage": native_usage(result.usage, done.cost_usd),
        "autoroute": autoroute_info(outcome, done.cost_usd),
    }


def envelope(data: Any, request_id: str) -> dict[str, Any]:
    """The native success envelope."""
    return {"success": True, "data": data, "meta": meta(request_id)}


def native_model(spec: ModelSpec, health: str, simulated: bool) -> dict[str, Any]:
    """One entry of ``GET /api/v1/models``."""
    return {
        "id": spec.id,
        "display_name": spec.id,
        "provider": spec.provider,
        "tier": {1: "premium", 2: "standard", 3: "default"}.get(spec.tier, "standard"),
        "context_window": spec.context_window,
        "max_output_tokens": spec.max_output_tokens,
        "health": health,
        "pricing": {
            "input_per_1k": spec.input_usd_per_mtok / 1000,
            "output_per_1k": spec.output_usd_per_mtok / 1000,
        },
        "capabilities": {
            "streaming": "streaming" in spec.capabilities,
            "functions": "tools" in spec.capabilities,
            "vision": "vision" in spec.capabilities,
        },
        "aliases": [],
        "deprecated": False,
        "deprecation_date": None,
        "simulated": simulated,
        "latency_ms": spec.latency_ms,
    }


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class Meta(BaseModel):
    request_id: str
    timestamp: float


class ErrorEnvelope(BaseModel):
    """The native error shape (``success`` is always false)."""

    success: bool
    error: ErrorDetail
    meta: Meta


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class OpenAIError(BaseModel):
    """OpenAI's error shape, used under ``/v1``."""

    error: OpenAIErrorBody


def _documented(
    model: type[BaseModel], statuses: dict[int, str]
) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": text} for status, text in statuses.items()}


_COMMON = {
    400: "Invalid request (validation_error, invalid_model, empty_messages, ...).",
    401: "Missing or invalid API key (invalid_api_key).",
    413: "Request body too large (payload_too_large).",
    429: "Rate limit of this API key exceeded (rate_limited); wait Retry-After seconds.",
}
_UPSTREAM = {
    502: "Every model failed (all_providers_failed) or a provider error.",
    503: "Storage unavailable (service_unavailable).",
    504: "Provider timeout (provider_timeout).",
}
NATIVE_ERRORS = _documented(ErrorEnvelope, {**_COMMON, 404: "Not found.", **_UPSTREAM})
OPENAI_ERRORS = _documented(OpenAIError, {**_COMMON, 404: "Not found.", **_UPSTREAM})
