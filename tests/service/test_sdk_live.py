"""The official ``openai`` SDK and the ``routeplex`` SDK against a live server on loopback.

One uvicorn server (a real socket, a background thread) serves the whole
module; the fake upstream behind it is reset per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import routeplex

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import ADMIN_TOKEN, MODELS, STATIC_KEYS
from tests.utils.fake_upstream import FakeUpstream
from tests.utils.live_server import LiveServer, live_server

KEY = "key-alice-0123456789"
PROMPT = "Explain what a hash map is in one paragraph."


@pytest.fixture(scope="module")
def server(
    upstream_server: FakeUpstream, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("live") / "data",
        catalog=catalog_file,
        api_keys=STATIC_KEYS,
        admin_token=ADMIN_TOKEN,
        seed=3,
        fallback_attempt_timeout_s=5.0,
        fallback_total_timeout_s=10.0,
    )
    with live_server(create_app(settings)) as live:
        yield live


@pytest.fixture
def oai(server: LiveServer, upstream: FakeUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEY, base_url=f"{server.base_url}/v1", max_retries=0) as client:
        yield client


@pytest.fixture
def rp(server: LiveServer, upstream: FakeUpstream) -> routeplex.RoutePlex:
    return routeplex.RoutePlex(api_key=KEY, base_url=server.base_url, timeout=30)


def test_openai_sync_chat(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": PROMPT}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.model in MODELS
    assert raw.headers["x-autoroute-model"] == completion.model
    assert raw.headers["x-autoroute-request-id"] == completion.id
    assert completion.usage is not None and completion.usage.total_tokens > 0


async def test_openai_async_chat(server: LiveServer, upstream: FakeUpstream) -> None:
    async with openai.AsyncOpenAI(
        api_key=KEY, base_url=f"{server.base_url}/v1", max_retries=0
    ) as client:
        completion = await client.chat.completions.create(
            model="local-small",
            messages=[{"role": "user", "content": PROMPT}],
            extra_headers={"X-Autoroute-Strategy": "cost"},
        )
    assert completion.model == "local-small"
    assert completion.choices[0].finish_reason == "stop"


def test_openai_streaming(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake upstream."
    assert len({c.model for c in chunks}) == 1 and chunks[0].model in MODELS
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_openai_stream_cut_raises_instead_of_truncating(
    oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.set(mode="cut", chunks=4, cut_after=1)
    stream = oai.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_openai_sdk_errors(oai: openai.OpenAI, server: LiveServer, upstream: FakeUpstream) -> None:
    with openai.OpenAI(api_key="wrong", base_url=f"{server.base_url}/v1", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "invalid_model"
    upstream.set(mode="error", status=503)
    with pytest.raises(openai.InternalServerError) as failed:
        oai.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code == 502


def test_openai_models(oai: openai.OpenAI) -> None:
    ids = [m.id for m in oai.models.list()]
    assert ids[0] == "auto" and set(MODELS) <= set(ids)


def test_rating_an_openai_answer(oai: openai.OpenAI, server: LiveServer) -> None:
    completion = oai.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": PROMPT}]
    )
    response = httpx.post(
        f"{server.base_url}/api/v1/feedback",
        json={"request_id": completion.id, "score": 5, "is_helpful": True},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 200 and response.json()["data"]["accepted"] is True


def test_routeplex_chat(rp: routeplex.RoutePlex) -> None:
    response = rp.chat(PROMPT, strategy="quality", max_output_tokens=256)
    assert response.output == "Hello from the fake upstream."
    assert response.model_used in MODELS
    assert response.provider == "openai_compatible"
    assert response.routing_mode == "routeplex-ai"
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.usage.cost_usd > 0 and response.id.startswith("req_")
    manual = rp.chat([routeplex.Message.user(PROMPT)], model="local-medium")
    assert manual.model_used == "local-medium" and manual.routing_mode == "manual"


def test_routeplex_chat_stream(rp: routeplex.RoutePlex) -> None:
    events = list(rp.chat_stream(PROMPT))
    kinds = [e.type for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and set(kinds[1:-1]) == {"delta"}
    assert "".join(e.content or "" for e in events) == "Hello from the fake upstream."
    done = events[-1]
    assert done.model_used in MODELS and done.usage and done.usage["total_tokens"] > 0


def test_routeplex_stream_error_event(rp: routeplex.RoutePlex, upstream: FakeUpstream) -> None:
    upstream.set(mode="cut", chunks=4, cut_after=2)
    events = list(rp.chat_stream(PROMPT))
    assert events[-1].type == "error" and events[-1].error


def test_routeplex_estimate_and_models(rp: routeplex.RoutePlex) -> None:
    estimate = rp.estimate(PROMPT, model="local-large", max_output_tokens=100)
    assert estimate.model == "local-large" and estimate.max_output_tokens == 100
    assert estimate.estimated_cost_usd > 0 and estimate.pricing["output_per_1k"] == 0.015
    models = {m.id: m for m in rp.list_models()}
    assert set(models) == set(MODELS)
    large = models["local-large"]
    assert large.pricing is not None and large.pricing.input_per_1k == 0.005
    assert large.capabilities is not None and large.capabilities.streaming
    assert large.health in ("healthy", "degraded", "unavailable")


def test_routeplex_typed_errors(
    rp: routeplex.RoutePlex, server: LiveServer, upstream: FakeUpstream
) -> None:
    with pytest.raises(routeplex.AuthenticationError) as auth:
        routeplex.RoutePlex(api_key="wrong", base_url=server.base_url).chat("hi")
    assert auth.value.code == "invalid_api_key" and auth.value.status == 401
    with pytest.raises(routeplex.ValidationError) as invalid:
        rp.chat("hi", model="gpt-17")
    assert invalid.value.code == "invalid_model"
    with pytest.raises(routeplex.ValidationError) as empty:
        rp.chat([])
    assert empty.value.code == "empty_messages"
    upstream.set(mode="error", status=400, error_code="content_policy_violation")
    with pytest.raises(routeplex.ContentPolicyError):
        rp.chat("hi")
    upstream.set(mode="error", status=503, error_code=None)
    with pytest.raises(routeplex.ProviderError) as failed:
        rp.chat("hi")
    assert failed.value.code == "all_providers_failed" and failed.value.status == 502
    with pytest.raises(routeplex.ProviderError):
        list(rp.chat_stream("hi"))


def test_routeplex_enhance_reports_the_classification(rp: routeplex.RoutePlex) -> None:
    result = rp.enhance("Write a python function that parses ISO dates.")
    assert result.changed is False
    assert result.enhanced_prompt == result.original_prompt
    assert result.query_type == "code" and result.detected_language == "en"
