"""The router: gated global + per-account policies, sampled with our own exploration.

How one decision is made (``decide``):

1. The featurizer turns the request into one VW ADF example over the candidates.
2. The global policy predicts each model's **quality**. The prediction is
   shrunk (``vw_shrinkage`` pseudo-observations; VW is not even asked while its
   weight is below ``vw_min_weight``) towards running means per model and query type
   (:mod:`bandit.estimates`), which are themselves shrunk towards the catalog
   prior (:mod:`bandit.prior`) with ``prior_strength`` pseudo-observations, so
   day-one routing follows the catalog and the prior fades out as data arrives.
3. The known cost (catalog price x token estimate, calibrated online by
   :class:`bandit.cost.CostModel`) and latency are added analytically into the
   strategy's utility, with the weights of :func:`bandit.rewards.utility`.
4. Probability matching (Thompson sampling with an explicit distribution,
   :func:`bandit.exploration.probability_of_best`) turns the utilities and
   each model's posterior spread into the global distribution, in closed form
   (no draws, no sampling noise in the logged propensities); the spread
   shrinks with the model's observations in this context and with the total
   number of updates, so exploration decays. A model whose upper bound is
   below the best lower bound (``eliminate_z`` *posterior* spreads, which the
   schedule does not shrink) is not explored while that holds: it is ruled
   out by its data, not by the schedule, and returns if its estimate rises.
   (``exploration="thompson_mc"`` estimates the same distribution from
   ``draws`` samples, as before; SquareCB is the alternative,
   ``exploration="squarecb"``.)
5. If the account has its own policy, its quality estimates (shrunk towards the
   global ones per model) give a sharper account distribution, and the
   :class:`bandit.gating.Gate` mixes the two with a bounded weight.
6. We sample from the mixture with the injected RNG and log *that* probability:
   IPS stays unbiased only if the logged propensity is the one we sampled with.

Learning (``learn``) regresses the observed quality (VW cost = -quality) for the
chosen model, in the global and/or the account policy (``scope``), and feeds the
observed cost to the cost calibration.

Why not ``--cb_explore_adf`` with the cost folded into the reward: measured
with ``python -m bandit.replay_compare DIR --wtp W --seed 1`` (same features,
same stream, bandit feedback; mean utility, final quarter in parentheses):

=================  =====  ==================  ==================  ==============
set                W      cb_explore_adf      this router         best fixed
                          --squarecb
=================  =====  ==================  ==================  ==============
routerbench_train  inf    0.820 (0.866)       0.855 (0.888)       0.879 (0.890)
routerbench_train  0.01   0.696 (0.762)       0.744 (0.808)       0.738 (0.770)
routerbench_train  0.001  0.425 (0.460)       0.485 (0.486)       0.500 (0.486)
zeroeval           inf    0.879 (0.897)       0.925 (0.941)       0.937 (0.941)
zeroeval           0.01   0.794 (0.819)       0.845 (0.866)       0.861 (0.866)
zeroeval           0.001  0.302 (0.357)       0.613 (0.616)       0.619 (0.617)
=================  =====  ==================  ==================  ==============

(The cb_explore_adf column predates the closed-form exploration and the cost
fix; the router column is afc7a01's; other seeds and the remaining gaps are in
``bandit.replay``.)

On the same sets, trusting VW's contextual prediction early (``vw_shrinkage``
of 30-300 pseudo-observations) measured worse than the running means alone;
with the closed-form exploration, 2000 also measured worse than 20000 or the
means alone (seeds 1-6), so VW takes over per model and context only at
volumes beyond these sets. Where VW is not asked, a decision costs no VW
predict at all (see ``bench/bench_decision.py``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Literal

from bandit.accounts import AccountCache, AccountState, EvictHook
from bandit.config import BanditConfig
from bandit.cost import CostModel
from bandit.estimates import QualityStats
from bandit.exploration import probability_matching, probability_of_best, squarecb
from bandit.featurizer import action_line, shared_line, to_vw
from bandit.gating import TOTAL_KEY, Gate
from bandit.policy import QualityPolicy
from bandit.prior import prior_quality
from bandit.rewards import strategy_weights
from bandit.serialization import pack, unpack
from bandit.types import Decision, PromptFeatures, Stage, Strategy
from providers.catalog import ModelSpec

Scope = Literal["both", "global", "account"]


class _LazyExample:
    """The unlabelled VW example of a decision, built only if a policy is asked."""

    def __init__(
        self, features: PromptFeatures, strategy: Strategy, action_lines: list[str]
    ) -> None:
        self._features, self._strategy, self._actions = features, strategy, action_lines
        self._lines: list[str] | None = None

    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = [shared_line(self._features, self._strategy), *self._actions]
        return self._lines


class Router:
    """Chooses a model per request and learns from delayed quality rewards.

    Example:
        >>> import random
        >>> from bandit.config import BanditConfig
        >>> from bandit.types import PromptFeatures
        >>> from providers.catalog import ModelSpec
        >>> models = [ModelSpec("a", "p", "a", 1, 1), ModelSpec("b", "p", "b", 1, 1)]
        >>> router = Router(models, BanditConfig(), random.Random(1))
        >>> f = PromptFeatures("code", 0.5, 100, 200, False, False, 1, 1, False, "en")
        >>> for _ in range(50):
        ...     d = router.decide("acct", f, "quality")
        ...     router.learn("acct", f, "quality", ["a", "b"], d.chosen, d.probability,
        ...                  1.0 if d.chosen == "b" else 0.0)
        >>> router.decide("acct", f, "quality").ranking[0]
        'b'
    """

    def __init__(
        self,
        models: Sequence[ModelSpec],
        config: BanditConfig,
        rng: random.Random,
        *,
        on_evict: EvictHook | None = None,
    ) -> None:
        self.config = config
        self._rng = rng
        self._gate = Gate(config)
        self._known: dict[str, ModelSpec] = {}
        self._models: tuple[ModelSpec, ...] = ()
        self.set_models(models)
        self._global = QualityPolicy(config)
        self._updates = 0  # global rewards learned
        self._stats = QualityStats()  # global quality means per model and context
        self._cost = CostModel(
            prior_obs=config.cost_prior_calls,
            context_obs=config.cost_context_calls,
            slope_prior=config.cost_slope_prior,
        )
        self._accounts = AccountCache(config, on_evict)
        self.model_version = "0"
        # Smallest count n with n / (n + vw_shrinkage) >= vw_min_weight.
        w = config.vw_min_weight
        self._vw_min_count = math.ceil(config.vw_shrinkage * w / (1.0 - w)) if w > 0 else 0

    # --- catalog ---------------------------------------------------------------
    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """The routable models, in catalog order."""
        return self._models

    def set_models(self, models: Sequence[ModelSpec]) -> None:
        """Replace the catalog (e.g. on reload); learned state is kept per model id."""
        if not models:
            raise ValueError("the router needs at least one model")
        self._models = tuple(models)
        self._known.update({m.id: m for m in models})
        # The unlabelled VW line of each model, built once rather than per decision.
        self._action_lines = {m.id: action_line(m) for m in self._known.values()}

    def _candidates(self, candidates: Sequence[str] | None) -> list[ModelSpec]:
        if candidates is None:
            return list(self._models)
        unknown = [c for c in candidates if c not in self._known]
        if unknown or not candidates:
            raise ValueError(f"unknown or empty candidates: {unknown}")
        return [self._known[c] for c in dict.fromkeys(candidates)]

    # --- deciding --------------------------------------------------------------
    def decide(
        self,
        account: str,
        features: PromptFeatures,
        strategy: Strategy,
        candidates: Sequence[str] | None = None,
        *,
        wtp: float | None = None,
    ) -> Decision:
        """Pick a model for one request (``wtp`` overrides the strategy's cost weight)."""
        specs = self._candidates(candidates)
        ids = [s.id for s in specs]
        lines = _LazyExample(features, strategy, [self._action_lines[i] for i in ids])
        tokens_in, tokens_out = features.input_tokens, features.expected_output_tokens
        cost_context = features.query_type if self.config.cost_by_query_type else None
        costs = [self._cost.expected(s, tokens_in, tokens_out, cost_context) for s in specs]

        # The same weights as rewards.utility: quality is learned, the rest is known.
        weights = strategy_weights(strategy, wtp=wtp)
        penalty = [weights.penalty(c, s.latency_ms) for c, s in zip(costs, specs, strict=True)]

        def utilities(quality: Sequence[float]) -> list[float]:
            return [q - p for q, p in zip(quality, penalty, strict=True)]

        context = self._context(features)
        q_global = self._global_quality(lines, specs, context)
        u_global = utilities(q_global)
        p_global = self._explore(u_global, q_global, ids, context, self._stats, self._updates, 1.0)

        state = self._accounts.get(account)
        counts = state.counts if state is not None else {TOTAL_KEY: 0}
        weight = self._gate.weight(counts, ids)
        p_account: list[float] | None = None
        u_final = u_global
        if state is not None and weight > 0.0:
            q_account = self._account_quality(lines, ids, state, context, q_global)
            u_account = utilities(q_account)
            sharpen, total = self.config.account_gamma_scale, counts[TOTAL_KEY]
            p_account = self._explore(
                u_account, q_account, ids, context, state.stats, total, sharpen
            )
            u_final = [
                (1 - weight) * g + weight * a for g, a in zip(u_global, u_account, strict=True)
            ]
        final = self._gate.blend(p_global, p_account, weight)
        return self._sample(ids, final, u_final, weight, self._gate.stage(counts))

    def _context(self, features: PromptFeatures) -> tuple[str, ...]:
        """The coarse-to-fine context of the running means: query type, then complexity."""
        buckets = self.config.complexity_buckets
        path = (features.query_type, f"cx{min(buckets - 1, int(features.complexity * buckets))}")
        return path[: self.config.context_levels]

    def _global_quality(
        self, lines: _LazyExample, specs: Sequence[ModelSpec], context: tuple[str, ...]
    ) -> list[float]:
        cfg = self.config
        query_type = context[0] if context else ""
        counts, means = [], []
        for spec in specs:
            prior = prior_quality(spec, query_type, cfg.default_prior_quality)
            n, mean = self._stats.estimate(
                spec.id,
                context,
                fallback=prior,
                strength=cfg.prior_strength,
                fine_strength=cfg.complexity_strength,
            )
            counts.append(n)
            means.append(mean)
        return self._shrink_vw(self._global, lines, counts, means)

    def _shrink_vw(
        self,
        policy: QualityPolicy,
        lines: _LazyExample,
        counts: Sequence[int],
        means: Sequence[float],
    ) -> list[float]:
        """VW's prediction per model, weighted n / (n + vw_shrinkage) against the means.

        While every weight is below ``vw_min_weight`` the prediction could move an
        estimate by only that share of its gap to the mean, so VW is not called
        at all (its predict is the largest cost of a decision).
        """
        k = self.config.vw_shrinkage
        if max(counts) < self._vw_min_count:
            return list(means)
        learned = policy.predict(lines.lines())
        return [
            (n * value + k * base) / (n + k)
            for n, value, base in zip(counts, learned, means, strict=True)
        ]

    def _account_quality(
        self,
        lines: _LazyExample,
        ids: Sequence[str],
        state: AccountState,
        context: tuple[str, ...],
        q_global: Sequence[float],
    ) -> list[float]:
        strength = self.config.account_shrinkage
        counts, means = [], []
        for model, fallback in zip(ids, q_global, strict=True):
            n, mean = state.stats.estimate(
                model,
                context,
                fallback=fallback,
                strength=strength,
                fine_strength=self.config.complexity_strength,
            )
            counts.append(n)
            means.append(mean)
        return self._shrink_vw(state.policy, lines, counts, means)

    def _explore(
        self,
        utilities: Sequence[float],
        quality: Sequence[float],
        ids: Sequence[str],
        context: tuple[str, ...],
        stats: QualityStats,
        updates: int,
        sharpen: float,
    ) -> list[float]:
        """The sampling distribution over ``ids`` given estimated utilities.

        ``thompson``: probability matching on Gaussian posteriors whose spread
        shrinks with each model's observations in this context (plus
        ``prior_strength`` pseudo-observations) and, for sampling only, with the
        schedule (``decay_updates``); scaled down in a context seen less than
        ``rare_context_share`` of the time (exploring there helps few future
        requests). ``squarecb``: inverse-gap weighting with an optimism bonus.
        ``sharpen`` > 1 explores less (accounts lean on global).
        """
        cfg = self.config
        floor = min(cfg.min_probability, 0.5 / len(ids))
        if cfg.exploration == "squarecb":
            gamma = sharpen * cfg.gamma0 * math.sqrt(1.0 + updates)
            bonus = [cfg.optimism / math.sqrt(1.0 + stats.count(m, context)) for m in ids]
            return squarecb([u + b for u, b in zip(utilities, bonus, strict=True)], gamma, floor)
        # Exploration decays with the number of updates (the schedule), on top of
        # each model's own posterior spread.
        scale = cfg.posterior_scale / sharpen / math.sqrt(1.0 + updates / cfg.decay_updates)
        if cfg.rare_context_share > 0.0 and context:
            seen = sum(stats.count(m, context) for m in ids)
            share = (seen + 1.0) / (updates + 1.0)
            scale *= math.sqrt(min(1.0, share / cfg.rare_context_share))
        posterior = []
        for model, q in zip(ids, quality, strict=True):
            # Consistent with the shrinkage in QualityStats.mean: the estimate rests on
            # this context's own observations plus prior_strength pseudo-observations
            # of the coarser level, however much data that level has.
            n_eff = stats.count(model, context[: cfg.spread_levels]) + cfg.prior_strength
            variance = max(q * (1.0 - q), cfg.min_variance)
            posterior.append(math.sqrt(variance / n_eff))
        stds = [scale * s for s in posterior]
        if cfg.exploration == "thompson_mc":
            return probability_matching(utilities, stds, self._rng, draws=cfg.draws, floor=floor)
        # Sampling uses the tempered spreads; elimination the posterior ones, so that a
        # model is dropped only once the data say it is worse, not because the
        # schedule has shrunk every spread (see BanditConfig.eliminate_z).
        return probability_of_best(
            utilities, stds, floor=floor, eliminate_z=cfg.eliminate_z, bound_stds=posterior
        )

    def _sample(
        self,
        ids: list[str],
        probs: list[float],
        scores: list[float],
        weight: float,
        stage: Stage,
    ) -> Decision:
        total = math.fsum(probs)
        probs = [p / total for p in probs]
        draw = self._rng.random()
        index = len(ids) - 1
        for i, p in enumerate(probs):
            draw -= p
            if draw < 0:
                index = i
                break
        probability = probs[index]
        if not (0.0 < probability <= 1.0) or not math.isfinite(probability):
            raise RuntimeError(f"sampled with invalid probability {probability}")
        rest = sorted((i for i in range(len(ids)) if i != index), key=lambda i: -scores[i])
        return Decision(
            chosen=ids[index],
            probability=probability,
            ranking=tuple(ids[i] for i in [index, *rest]),
            probabilities=dict(zip(ids, probs, strict=True)),
            account_weight=weight,
            stage=stage,
            model_version=self.model_version,
        )

    # --- learning --------------------------------------------------------------
    def learn(
        self,
        account: str,
        features: PromptFeatures,
        strategy: Strategy,
        actions: Sequence[str],
        chosen: str,
        probability: float,
        quality: float,
        *,
        cost_usd: float | None = None,
        scope: Scope = "both",
    ) -> None:
        """Learn one reward: ``quality`` in [0, 1] of ``chosen`` among ``actions``.

        ``cost_usd``, when given, calibrates the expected cost of ``chosen``.
        ``scope`` picks the global policy, the account's, or both.
        """
        if not (0.0 < probability <= 1.0) or not math.isfinite(probability):
            raise ValueError(f"probability must be in (0, 1], got {probability}")
        if not (0.0 <= quality <= 1.0):
            raise ValueError(f"quality must be in [0, 1], got {quality}")
        if chosen not in actions:
            raise ValueError(f"chosen model {chosen!r} is not among the actions")
        specs = self._candidates(actions)
        index = [s.id for s in specs].index(chosen)
        weight_p = probability if self.config.importance_weighting else 1.0
        lines = to_vw(features, strategy, specs, chosen=index, cost=-quality, probability=weight_p)
        if scope in ("both", "global"):
            self._global.learn(lines)
            self._updates += 1
            self._stats.observe(chosen, self._context(features), quality)
            if cost_usd is not None:
                tokens_in, tokens_out = features.input_tokens, features.expected_output_tokens
                cost_context = features.query_type if self.config.cost_by_query_type else None
                self._cost.observe(specs[index], tokens_in, tokens_out, cost_usd, cost_context)
        if scope in ("both", "account"):
            state = self._accounts.get_or_create(account)
            state.policy.learn(lines)
            state.observe(chosen, self._context(features), quality)

    # --- accounts --------------------------------------------------------------
    def reset_account(self, account: str) -> None:
        """Forget everything learned about ``account`` (its policy and counts)."""
        self._accounts.drop(account)

    def account_samples(self, account: str) -> dict[str, int]:
        """The account's reward counts: ``"*"`` in total and per model."""
        state = self._accounts.get(account)
        return dict(state.counts) if state is not None else {TOTAL_KEY: 0}

    def stage(self, account: str) -> Stage:
        """``cold_start``, ``warm_up`` or ``established`` (see :mod:`bandit.gating`)."""
        return self._gate.stage(self.account_samples(account))

    def cached_accounts(self) -> list[str]:
        """Accounts whose policies are in memory, least recently used first."""
        return list(self._accounts)

    # --- persistence -----------------------------------------------------------
    def export_global(self) -> bytes:
        """The global policy, its counts and the cost calibration, as bytes."""
        header = {
            "kind": "global",
            "updates": self._updates,
            "stats": self._stats.state(),
            "cost": self._cost.state(),
        }
        return pack(header, self._global.to_bytes())

    def load_global(self, blob: bytes, version: str) -> None:
        """Replace the global policy with an exported one, tagged ``version``."""
        header, model = unpack(blob)
        if header.get("kind") != "global":
            raise ValueError("blob is not a global policy")
        policy = QualityPolicy.from_bytes(model, self.config)
        self._global.close()
        self._global = policy
        self._updates = int(header["updates"])
        self._stats = QualityStats.from_state(dict(header["stats"]))
        self._cost.load_state(dict(header["cost"]))
        self.model_version = version

    def export_account(self, account: str) -> bytes | None:
        """The account's policy and counts as bytes, or ``None`` if it has none."""
        state = self._accounts.get(account)
        return state.to_bytes() if state is not None else None

    def load_account(self, account: str, blob: bytes, version: str) -> None:
        """Install an exported account policy (``version`` is informational)."""
        del version  # accounts follow the global model_version in decisions
        self._accounts.load(account, blob)
