"""What one reward event teaches: the learner's reward semantics, as a pure function.

``plan_event`` joins an event to its decision and returns an outcome with
zero or more :class:`Update`\\ s. No I/O and no VW here, so every rule is a
unit test away:

- ``auto``: the automatic quality signal of the answering model.
- ``rating``: the user's rating, already blended with the automatic signal by
  the API (``bandit.rewards.blend_rating``); if the event carries only a raw
  ``score``/``is_helpful`` the blend happens here. Ratings are repeated
  ``rating_repeats`` times (an importance weight), so a few of them move an
  account's routing within seconds. A rating created after the reward window
  is recorded (outcome ``late``) and not learned.
- ``failure``: a failed provider attempt teaches a low reward for the model
  that failed.
- ``default``: the window ended with no signal: the logged automatic signal if
  the decision has one, else the configured default reward.

Outcomes: ``learned``, ``late``, ``orphan`` (no decision to join: unknown or
expired request) and ``invalid`` (recorded, never retried).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.store.base import DecisionRecord, RewardEvent

Blend = Callable[[float | None, int | None, bool | None], float]


@dataclass(frozen=True, slots=True)
class RewardRules:
    """Knobs of the reward semantics."""

    reward_window_s: float = 3600.0
    default_reward: float = 0.5
    rating_repeats: int = 3
    min_probability: float = 1e-3


@dataclass(frozen=True, slots=True)
class Update:
    """One ``Router.learn`` call (repeated ``repeats`` times), in a forwardable form."""

    account: str
    features: dict[str, Any]
    strategy: str
    actions: list[str]
    chosen: str
    probability: float
    quality: float
    repeats: int = 1
    cost_usd: float | None = None

    def to_wire(self) -> dict[str, Any]:
        """Compact dict for the forward stream (no prompt data: features only)."""
        return {
            "a": self.account,
            "f": self.features,
            "s": self.strategy,
            "x": self.actions,
            "c": self.chosen,
            "p": self.probability,
            "q": self.quality,
            "r": self.repeats,
            "k": self.cost_usd,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Update:
        """Inverse of :meth:`to_wire`."""
        return cls(
            account=str(data["a"]),
            features=dict(data["f"]),
            strategy=str(data["s"]),
            actions=[str(a) for a in data["x"]],
            chosen=str(data["c"]),
            probability=float(data["p"]),
            quality=float(data["q"]),
            repeats=int(data["r"]),
            cost_usd=None if data.get("k") is None else float(data["k"]),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """The outcome of one event and what to learn from it."""

    outcome: str
    updates: list[Update] = field(default_factory=list)
    settles: bool = False  # a signal arrived: no default reward for this decision
    reason: str = ""


def _probability(decision: DecisionRecord, model: str, floor: float) -> float:
    """The propensity to log for ``model``.

    The decision's ``probability`` belongs to the router's first choice; a
    fallback model or a pinned request was not sampled, so it is logged as
    chosen with certainty unless the decision recorded its probability.
    """
    extra = decision.extra
    if extra.get("pinned"):
        return 1.0
    if model == extra.get("first_choice", decision.chosen):
        p = decision.probability
    else:
        p = float(extra.get("probabilities", {}).get(model, 1.0))
    return min(1.0, max(floor, p))


def _clip(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _rating_quality(event: RewardEvent, decision: DecisionRecord, blend: Blend) -> float:
    payload = event.payload
    if "score" in payload and not payload.get("blended", True):
        return blend(decision.auto_signal, payload.get("score"), payload.get("is_helpful"))
    return _clip(event.value)


def plan_event(
    event: RewardEvent, decision: DecisionRecord | None, rules: RewardRules, blend: Blend
) -> Plan:
    """Decide what ``event`` teaches, given its ``decision`` (``None`` if not found)."""
    if decision is None:
        return Plan("orphan", reason="no decision for this request (unknown or expired)")
    kind = event.kind
    if kind == "rating":
        late = event.payload.get("late") or (
            event.created_at - decision.created_at > rules.reward_window_s
        )
        if late:
            return Plan("late", reason="rating after the reward window")
        quality, model, repeats = _rating_quality(event, decision, blend), decision.chosen, None
    elif kind == "auto":
        quality, model, repeats = _clip(event.value), event.model or decision.chosen, 1
    elif kind == "failure":
        quality, model, repeats = _clip(event.value), event.model, 1
    elif kind == "default":
        signal = decision.auto_signal
        quality = _clip(rules.default_reward if signal is None else signal)
        model, repeats = decision.chosen, 1
    else:
        return Plan("invalid", reason=f"unknown reward kind {kind!r}")
    if model not in decision.actions:
        return Plan("invalid", reason=f"model {model!r} is not among the decision's actions")
    update = Update(
        account=decision.account,
        features=decision.features,
        strategy=decision.strategy,
        actions=list(decision.actions),
        chosen=model,
        probability=_probability(decision, model, rules.min_probability),
        quality=quality,
        repeats=rules.rating_repeats if repeats is None else repeats,
        cost_usd=decision.cost_usd if kind == "auto" and decision.cost_usd > 0 else None,
    )
    return Plan("learned", [update], settles=kind in ("auto", "rating"))
