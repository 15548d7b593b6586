"""autoroute providers: the upstream side of the router.

- ``base``: the :class:`~providers.base.Provider` protocol and the request/result types.
- ``catalog`` (+ ``catalog.yaml``): priced model catalog, :func:`~providers.catalog.load_catalog`.
- ``errors``: the one error tree (retryable vs non-retryable), drawn in its docstring.
- ``openai``, ``anthropic``, ``google``, ``openai_compatible``: one HTTP adapter each.
- ``simulated``: deterministic stand-in used when no key is configured.
- ``replay``: answers benchmark prompts with recorded responses and scores.
- ``registry``: which provider serves each model, given the configured keys.
- ``fallback``: try candidates in order within bounded attempts and deadlines.
- ``circuit``: per-model circuit breaker, state shared through the store.
"""
