"""Pure translation from a request's features to Vowpal Wabbit ADF text.

One multi-line example per decision: a ``shared`` line with the context and one
line per candidate model. Namespaces (VW keys interactions on the first letter):

- ``s`` strategy (shared; not crossed with actions, since the policy learns
  quality and the strategy only re-weights cost and latency afterwards);
- ``q`` structured prompt features (query type, complexity, token buckets,
  structure cues, language);
- ``w`` the lexical sketch (hashed word buckets, see :mod:`bandit.sketch`);
- ``a`` the model id;
- ``b`` catalog attributes of the model (provider, log price bucket, context
  window bucket, latency tier, quality tier), which let a new model borrow
  strength from similar ones.

Nothing here touches VW, so golden-string tests pin the format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from bandit.types import PromptFeatures, Strategy
from providers.catalog import ModelSpec

_UNSAFE = re.compile(r"[\s|:]")


def _safe(value: str) -> str:
    """Make ``value`` usable as a VW feature name (no spaces, pipes or colons)."""
    return _UNSAFE.sub("_", value) or "_"


def _log2_bucket(value: float) -> int:
    return int(math.log2(value + 1.0)) if value > 0 else 0


def price_bucket(spec: ModelSpec) -> str:
    """Log-bucketed blended price (USD per million tokens, 1:3 input:output)."""
    blended = (spec.input_usd_per_mtok + 3.0 * spec.output_usd_per_mtok) / 4.0
    if math.isnan(blended):
        return "unk"
    return str(round(math.log2(blended + 0.01) * 2.0))  # half-octave buckets


def latency_tier(latency_ms: float) -> str:
    """Coarse latency class of a model: fast, mid or slow."""
    if latency_ms < 500:
        return "fast"
    return "mid" if latency_ms < 1500 else "slow"


def shared_line(features: PromptFeatures, strategy: Strategy) -> str:
    """The ``shared`` line of the ADF example."""
    cues = [
        f"type={_safe(features.query_type)}",
        f"cx={min(4, int(features.complexity * 5))}",
        f"in={_log2_bucket(features.input_tokens)}",
        f"out={_log2_bucket(features.expected_output_tokens)}",
        f"qs={min(features.question_count, 3)}",
        f"turns={min(features.turns, 4)}",
        f"lang={_safe(features.language)}",
    ]
    if features.has_code_fence:
        cues.append("fence")
    if features.has_list:
        cues.append("list")
    if features.has_system_prompt:
        cues.append("sys")
    line = f"shared |s strategy={strategy} |q {' '.join(cues)}"
    if features.sketch:
        line += " |w " + " ".join(f"h{b}" for b in features.sketch)
    return line


def action_line(spec: ModelSpec) -> str:
    """The line describing one candidate model (no label)."""
    key = (
        spec.id,
        spec.provider,
        spec.input_usd_per_mtok,
        spec.output_usd_per_mtok,
        spec.context_window,
        spec.latency_ms,
        spec.tier,
    )
    line = _ACTION_LINES.get(key)
    if line is None:
        if len(_ACTION_LINES) >= _ACTION_LINES_MAX:
            _ACTION_LINES.clear()
        line = _ACTION_LINES[key] = (
            f"|a id={_safe(spec.id)}"
            f" |b prov={_safe(spec.provider)} price={price_bucket(spec)}"
            f" ctx={_log2_bucket(spec.context_window / 1000)}"
            f" lat={latency_tier(spec.latency_ms)} tier={spec.tier}"
        )
    return line


# An action's line depends only on these catalog fields and is built for every
# candidate of every decision and update: ~12 us each under cProfile of the
# learner, a dict lookup once cached. Bounded in case catalogs churn.
_ActionKey = tuple[str, str, float, float, int, float, int]
_ACTION_LINES: dict[_ActionKey, str] = {}
_ACTION_LINES_MAX = 4096


def to_vw(
    features: PromptFeatures,
    strategy: Strategy,
    actions: Sequence[ModelSpec],
    *,
    chosen: int | None = None,
    cost: float = 0.0,
    probability: float = 1.0,
) -> list[str]:
    """Build the multi-line ADF example, optionally labelled for learning.

    Args:
        features: the request's prompt features.
        strategy: the routing strategy, a shared feature.
        actions: candidate models, in the order the policy scores them.
        chosen: index of the action whose outcome is known, to label it.
        cost: VW cost of the chosen action (we use ``-quality``).
        probability: the propensity the chosen action was sampled with.

    Example:
        >>> from bandit.types import PromptFeatures
        >>> from providers.catalog import ModelSpec
        >>> f = PromptFeatures("code", 0.5, 100, 200, True, False, 1, 1, False, "en")
        >>> m = ModelSpec("m1", "openai", "m1", 1.0, 2.0)
        >>> to_vw(f, "auto", [m])[1]
        '|a id=m1 |b prov=openai price=2 ctx=7 lat=mid tier=2'
    """
    lines = [shared_line(features, strategy)]
    for index, spec in enumerate(actions):
        line = action_line(spec)
        if index == chosen:
            line = f"0:{cost:.6g}:{probability:.6g} {line}"
        lines.append(line)
    return lines
