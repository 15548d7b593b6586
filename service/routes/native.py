"""The native (RoutePlex-compatible) chat API: ``POST /api/v1/chat`` and ``/chat/estimate``.

Wire-compatible with the ``routeplex`` 1.0.0 SDK: ``mode`` is ``routeplex-ai``
or ``auto`` (the router chooses) or ``manual`` (``model`` is used). Streams
send ``start``, ``delta``, ``done`` or ``error`` events, then ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from bandit.features import extract_features
from providers.base import Message
from service.deps import CatalogDep, ChatContext, ChatContextDep, RequestIdDep, parse_strategy
from service.errors import EmptyMessages, InvalidMode, InvalidModel
from service.pipeline import ChatCall
from service.schemas import EnhanceRequest, EstimateRequest, NativeChatRequest
from service.streaming import SSE_HEADERS, native_events
from service.wire import NATIVE_ERRORS, envelope, native_chat, route_headers

MODES = ("routeplex-ai", "auto", "manual")

router = APIRouter(prefix="/api/v1", tags=["native"], responses=NATIVE_ERRORS)


def _call(body: NativeChatRequest, context: ChatContext) -> ChatCall:
    if body.mode not in MODES:
        raise InvalidMode(f"unknown mode {body.mode!r}; use one of {', '.join(MODES)}")
    if not body.messages:
        raise EmptyMessages("messages must hold at least one message")
    if body.mode == "manual" and not body.model:
        raise InvalidModel("mode 'manual' needs a model; GET /api/v1/models lists them")
    return ChatCall(
        account=context.account,
        request_id=context.request_id,
        messages=tuple(m.to_message() for m in body.messages),
        strategy=parse_strategy(body.strategy) if body.strategy else context.strategy,
        model=body.model if body.mode == "manual" else None,
        max_output_tokens=body.max_output_tokens,
        temperature=body.temperature,
        stream=body.stream,
    )


@router.post("/chat", summary="Chat, routed or manual (RoutePlex-compatible)", response_model=None)
async def chat(
    body: NativeChatRequest, context: ChatContextDep
) -> JSONResponse | StreamingResponse:
    """Answer one chat request in the RoutePlex envelope (or as an SSE stream).

    The body's ``strategy`` wins over the ``X-Autoroute-Strategy`` header.
    """
    return await answer(body, context)


async def answer(body: NativeChatRequest, context: ChatContext) -> JSONResponse | StreamingResponse:
    """The route's work, shared with :mod:`service.fastlane`."""
    call = _call(body, context)
    pipeline = context.pipeline
    if body.stream:
        session = await pipeline.open_stream(call)
        return StreamingResponse(
            native_events(session, body.mode),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **route_headers(session.outcome)},
        )
    done = await pipeline.complete(call)
    return JSONResponse(
        envelope(native_chat(done, body.mode), context.request_id),
        headers=route_headers(done.outcome),
    )


@router.post("/chat/enhance", summary="Classify a prompt (no key needed; never rewrites it)")
async def enhance(body: EnhanceRequest, request_id: RequestIdDep) -> dict[str, Any]:
    """The SDK's ``enhance``: autoroute does not rewrite prompts, it reports what its
    classifier sees (query type, language), so clients written for it keep working."""
    features = extract_features([Message(role="user", content=body.prompt)])
    data = {
        "enhanced_prompt": body.prompt,
        "changed": False,
        "query_type": features.query_type,
        "detected_language": features.language,
        "original_prompt": body.prompt,
    }
    return envelope(data, request_id)


@router.post("/chat/estimate", summary="Estimate the cost of a request (no key needed)")
async def estimate(
    body: EstimateRequest, catalog: CatalogDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """Token and cost estimate for ``model``, or for the cheapest model if none is given."""
    if not body.messages:
        raise EmptyMessages("messages must hold at least one message")
    if body.model is not None:
        spec = catalog.get(body.model)
        if spec is None:
            raise InvalidModel(f"unknown model {body.model!r}; GET /api/v1/models lists them")
    else:
        spec = min(catalog, key=lambda m: m.cost_usd(1000, 1000))
    features = extract_features([m.to_message() for m in body.messages])
    output_tokens = min(body.max_output_tokens, spec.max_output_tokens)
    data = {
        "model": spec.id,
        "input_tokens": features.input_tokens,
        "max_output_tokens": output_tokens,
        "total_tokens": features.input_tokens + output_tokens,
        "estimated_cost_usd": spec.cost_usd(features.input_tokens, output_tokens),
        "confidence": "estimate",
        "pricing": {
            "input_per_1k": spec.input_usd_per_mtok / 1000,
            "output_per_1k": spec.output_usd_per_mtok / 1000,
        },
    }
    return envelope(data, request_id)
