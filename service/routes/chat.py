"""OpenAI-compatible chat: ``POST /v1/chat/completions``.

``model`` ``auto`` (or its alias ``routeplex-ai``) lets the router choose; a
catalog id pins that model. The strategy comes from ``X-Autoroute-Strategy``
(``X-RoutePlex-Strategy`` is accepted too). Errors use OpenAI's error shape.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from service.deps import ChatContext, ChatContextDep
from service.errors import EmptyMessages, ValidationFailed
from service.pipeline import ChatCall
from service.schemas import ChatCompletionRequest
from service.streaming import SSE_HEADERS, openai_events
from service.wire import OPENAI_ERRORS, FastJSONResponse, openai_completion, route_headers

ROUTING_ALIASES = frozenset({"auto", "routeplex-ai"})

router = APIRouter(prefix="/v1", tags=["openai"], responses=OPENAI_ERRORS)


@router.post(
    "/chat/completions", summary="Chat completion, routed (OpenAI-compatible)", response_model=None
)
async def chat_completions(
    body: ChatCompletionRequest, context: ChatContextDep
) -> JSONResponse | StreamingResponse:
    """Route one chat request; the answer's ``model`` is the model that actually answered."""
    return await answer(body, context)


async def answer(
    body: ChatCompletionRequest, context: ChatContext
) -> JSONResponse | StreamingResponse:
    """The route's work, shared with :mod:`service.fastlane`."""
    if not body.messages:
        raise EmptyMessages("messages must hold at least one message")
    if unsupported := body.unsupported():
        raise ValidationFailed(
            f"not supported: {', '.join(unsupported)} (tool calls and n > 1 are not routed yet)",
            details={"unsupported": unsupported},
        )
    call = ChatCall(
        account=context.account,
        request_id=context.request_id,
        messages=tuple(m.to_message() for m in body.messages),
        strategy=context.strategy,
        model=None if body.model in ROUTING_ALIASES else body.model,
        max_output_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        stream=body.stream,
    )
    pipeline = context.pipeline
    if body.stream:
        session = await pipeline.open_stream(call)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(
            openai_events(session, include_usage),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, **route_headers(session.outcome)},
        )
    done = await pipeline.complete(call)
    return FastJSONResponse(openai_completion(done), headers=route_headers(done.outcome))
