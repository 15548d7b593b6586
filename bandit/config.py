"""Tunable settings of the learning core, in one frozen dataclass.

Every threshold the router uses (gating stages, prior strength, exploration
schedule, VW options, account cache size) lives here so that the service can
expose them as settings and the replay benchmark can sweep them. The defaults
were chosen by measurement on ``data/replay/`` only (see ``bandit.replay``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BanditConfig:
    """Settings of :class:`bandit.router.Router`.

    Example:
        >>> cfg = BanditConfig(max_account_weight=0.8)
        >>> cfg.warmup_samples < cfg.established_samples
        True
    """

    # --- VW workspaces -------------------------------------------------------
    bits: int = 18
    interactions: tuple[str, ...] = ("qa", "wa", "qb", "wb")
    learning_rate: float = 0.5
    cb_type: str = "mtr"
    # False: the VW label carries probability 1, i.e. a plain regression of the
    # chosen model's quality. Measured: importance weights 1/p from our small
    # exploration propensities make the regression noisier (see bandit.policy).
    importance_weighting: bool = False
    # A small example queue cuts a workspace from ~9 MiB to ~2 MiB RSS.
    queue_limit: int = 4

    # --- account cache ---------------------------------------------------------
    max_accounts: int = 1000
    account_cache_mib: float = 2048.0
    # Measured by bench/bench_decision.py; used to turn the MiB cap into a count.
    account_mib_estimate: float = 1.0

    # --- confidence gating -----------------------------------------------------
    warmup_samples: int = 10  # below this many samples an account is cold
    established_samples: int = 100  # from here its weight is capped
    per_model_samples: int = 5  # samples on one model before the account is trusted at all
    max_account_weight: float = 0.85

    # --- prior and shrinkage ---------------------------------------------------
    # Pseudo-observations of the catalog prior per model in the global estimate,
    # and of the global estimate per model in an account's estimate.
    prior_strength: float = 3.0
    account_shrinkage: float = 3.0
    default_prior_quality: float = 0.7
    # Pseudo-observations of the running means against VW's contextual prediction,
    # per (model, query type): VW extrapolates badly where it has little data.
    vw_shrinkage: float = 20.0

    # --- exploration ---------------------------------------------------------
    # "thompson": probability matching on Gaussian posteriors (explicit propensities);
    # "squarecb": inverse-gap weighting with an optimism bonus.
    exploration: str = "thompson"
    posterior_scale: float = 1.0  # < 1 explores less
    model_share: float = 0.3  # weight of a model's observations on other query types
    min_variance: float = 0.02
    draws: int = 128
    gamma0: float = 30.0  # SquareCB learning-rate scale; grows with sqrt(t)
    optimism: float = 0.15  # bonus c / sqrt(1 + n_model) on the quality estimate
    min_probability: float = 0.002  # floor per action, keeps propensities usable
    account_gamma_scale: float = 3.0  # accounts explore less: they lean on global

    # --- cost calibration ------------------------------------------------------
    cost_prior_tokens: float = 2000.0  # pseudo-tokens of the catalog price per model
