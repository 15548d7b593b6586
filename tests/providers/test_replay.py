"""The replay provider on a tiny folder written by the test."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from providers import errors
from providers.base import ChatRequest, Message
from providers.replay import ReplayProvider, replay_models

PROMPT_1 = "What is 2 + 2?\nAnswer with a number."
PROMPT_2 = "Name a primary colour."


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_csv(
        tmp_path / "items.csv",
        ["item_id", "prompt", "task"],
        [["q1", PROMPT_1, "gsm"], ["q2", PROMPT_2, "misc"]],
    )
    write_csv(
        tmp_path / "outcomes.csv",
        ["item_id", "model", "score", "cost_usd", "response"],
        [
            ["q1", "big-model", 1.0, 0.002, "4"],
            ["q1", "small-model", 0.0, 0.0001, "5"],
            ["q2", "big-model", 1.0, 0.003, "Red."],
        ],
    )
    write_csv(
        tmp_path / "models.csv",
        ["model", "input_usd_per_mtok", "output_usd_per_mtok"],
        [["big-model", 10, 30], ["small-model", "", ""]],
    )
    return tmp_path


async def test_answers_with_recorded_response_score_and_cost(folder: Path) -> None:
    provider = ReplayProvider(folder)
    specs = {s.id: s for s in replay_models(folder)}

    big = await provider.complete(
        specs["big-model"], ChatRequest((Message("user", PROMPT_1),)), timeout=1
    )
    small = await provider.complete(
        specs["small-model"], ChatRequest((Message("user", PROMPT_1),)), timeout=1
    )

    assert (big.text, big.recorded_score, big.extra["cost_usd"]) == ("4", 1.0, 0.002)
    assert (small.text, small.recorded_score, small.extra["cost_usd"]) == ("5", 0.0, 0.0001)
    assert len(provider) == 2
    assert provider.models == ("big-model", "small-model")


async def test_lookup_uses_the_last_user_message(folder: Path) -> None:
    provider = ReplayProvider(folder)
    spec = replay_models(folder)[0]
    request = ChatRequest(
        (
            Message("system", "Be terse."),
            Message("user", PROMPT_1),
            Message("assistant", "4"),
            Message("user", PROMPT_2),
        )
    )

    result = await provider.complete(spec, request, timeout=1)

    assert result.text == "Red."


async def test_stream_replays_the_same_text(folder: Path) -> None:
    provider = ReplayProvider(folder)
    spec = replay_models(folder)[0]
    request = ChatRequest((Message("user", PROMPT_2),))

    chunks = [c async for c in provider.stream(spec, request, timeout=1)]

    assert "".join(c.delta for c in chunks) == "Red."
    assert chunks[-1].finish_reason == "stop"


async def test_unknown_prompt_is_a_non_retryable_error_without_the_prompt(folder: Path) -> None:
    provider = ReplayProvider(folder)

    with pytest.raises(errors.InvalidRequest) as info:
        await provider.complete(
            replay_models(folder)[0], ChatRequest((Message("user", "secret plan"),)), timeout=1
        )

    assert "secret plan" not in str(info.value)


async def test_missing_outcome_for_a_model_is_unknown_model(folder: Path) -> None:
    provider = ReplayProvider(folder)
    small = {s.id: s for s in replay_models(folder)}["small-model"]

    with pytest.raises(errors.UnknownModel):
        await provider.complete(small, ChatRequest((Message("user", PROMPT_2),)), timeout=1)


def test_replay_models_read_prices(folder: Path) -> None:
    specs = {s.id: s for s in replay_models(folder)}

    assert specs["big-model"].provider == "replay"
    assert (specs["big-model"].input_usd_per_mtok, specs["big-model"].output_usd_per_mtok) == (
        10,
        30,
    )
    assert specs["small-model"].input_usd_per_mtok == 0


async def test_sets_without_responses_get_a_placeholder(tmp_path: Path) -> None:
    write_csv(tmp_path / "items.csv", ["item_id", "prompt", "task"], [["q1", PROMPT_1, "gsm"]])
    write_csv(
        tmp_path / "outcomes.csv",
        ["item_id", "model", "score", "cost_usd"],
        [["q1", "m", 1, 0.001]],
    )
    write_csv(
        tmp_path / "models.csv",
        ["model", "input_usd_per_mtok", "output_usd_per_mtok"],
        [["m", 1, 2]],
    )

    result = await ReplayProvider(tmp_path).complete(
        replay_models(tmp_path)[0], ChatRequest((Message("user", PROMPT_1),)), timeout=1
    )

    assert result.text == "[replay m]"
    assert result.recorded_score == 1.0


def test_missing_columns_are_reported(tmp_path: Path) -> None:
    write_csv(tmp_path / "items.csv", ["item_id", "text"], [["q1", "x"]])
    write_csv(tmp_path / "outcomes.csv", ["item_id", "model", "score", "cost_usd"], [])

    with pytest.raises(ValueError, match="missing column"):
        ReplayProvider(tmp_path)
