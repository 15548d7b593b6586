"""The reward semantics, as a pure function (no store, no VW)."""

from __future__ import annotations

import dataclasses

from bandit.rewards import blend_rating
from service.learner_rewards import RewardRules, Update, plan_event
from tests.service.store.factories import make_decision, make_event

RULES = RewardRules(reward_window_s=100.0, default_reward=0.4, rating_repeats=3)


def test_auto_signal_is_learned_once_for_the_answering_model() -> None:
    decision = make_decision(chosen="model-b")
    plan = plan_event(make_event(decision, "auto", 0.9), decision, RULES, blend_rating)
    assert plan.outcome == "learned" and plan.settles
    [update] = plan.updates
    assert (update.chosen, update.quality, update.repeats) == ("model-b", 0.9, 1)


def test_rating_is_weighted_by_repeats_and_settles() -> None:
    decision = make_decision(auto_signal=0.5)
    event = make_event(decision, "rating", 0.84, payload={"score": 5, "is_helpful": True})
    plan = plan_event(event, decision, RULES, blend_rating)
    assert plan.settles and plan.updates[0].repeats == 3
    assert plan.updates[0].quality == 0.84  # the API already blended it


def test_raw_rating_is_blended_with_the_auto_signal() -> None:
    decision = make_decision(auto_signal=0.5)
    payload = {"score": 5, "is_helpful": None, "blended": False}
    plan = plan_event(
        make_event(decision, "rating", 0.0, payload=payload), decision, RULES, blend_rating
    )
    assert plan.updates[0].quality == blend_rating(0.5, 5, None)


def test_rating_after_the_window_is_recorded_not_learned() -> None:
    decision = make_decision(created_at=1000.0)
    late = make_event(decision, "rating", 1.0, created_at=1000.0 + 101)
    assert plan_event(late, decision, RULES, blend_rating).outcome == "late"
    flagged = make_event(decision, "rating", 1.0, created_at=1001.0, payload={"late": True})
    plan = plan_event(flagged, decision, RULES, blend_rating)
    assert plan.outcome == "late" and not plan.updates


def test_failure_teaches_the_failed_model() -> None:
    decision = make_decision(chosen="model-b")
    event = make_event(decision, "failure", 0.0, model="model-a")
    plan = plan_event(event, decision, RULES, blend_rating)
    assert plan.updates[0].chosen == "model-a" and plan.updates[0].quality == 0.0
    assert not plan.settles


def test_default_reward_uses_the_logged_signal_else_the_default() -> None:
    silent = make_decision()
    logged = make_decision(auto_signal=0.7)
    assert (
        plan_event(make_event(silent, "default", 0.0), silent, RULES, blend_rating)
        .updates[0]
        .quality
        == RULES.default_reward
    )
    assert (
        plan_event(make_event(logged, "default", 0.0), logged, RULES, blend_rating)
        .updates[0]
        .quality
        == 0.7
    )


def test_orphan_and_invalid_events() -> None:
    decision = make_decision()
    assert plan_event(make_event(decision), None, RULES, blend_rating).outcome == "orphan"
    bogus = make_event(decision, "mystery")
    assert plan_event(bogus, decision, RULES, blend_rating).outcome == "invalid"
    stranger = make_event(decision, "failure", model="not-a-candidate")
    assert plan_event(stranger, decision, RULES, blend_rating).outcome == "invalid"


def test_propensity_of_fallback_and_pinned_models() -> None:
    base = make_decision(chosen="model-b")
    fallback = dataclasses.replace(
        base, extra={"first_choice": "model-a", "probabilities": {"model-a": 0.7, "model-b": 0.3}}
    )
    assert (
        plan_event(make_event(fallback), fallback, RULES, blend_rating).updates[0].probability
        == 0.3
    )
    pinned = dataclasses.replace(base, extra={"pinned": True})
    assert plan_event(make_event(pinned), pinned, RULES, blend_rating).updates[0].probability == 1.0


def test_update_wire_round_trip() -> None:
    update = Update("a", {"x": 1}, "cost", ["m1", "m2"], "m2", 0.25, 0.5, 3, 0.01)
    assert Update.from_wire(update.to_wire()) == update
