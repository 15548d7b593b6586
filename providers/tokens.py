"""Token estimates for when an upstream reports no usage (and for simulation).

Roughly four characters per token for English text, the rule of thumb OpenAI
and Anthropic both publish. Only used when no real count is available.
"""

from __future__ import annotations

from collections.abc import Iterable

from providers.base import Message

# Per-message overhead of chat formatting (role markers), as in OpenAI's cookbook.
_PER_MESSAGE = 4


def estimate_tokens(text: str) -> int:
    """Approximate token count of ``text`` (at least 1 for non-empty text)."""
    return (len(text) + 3) // 4


def estimate_input_tokens(messages: Iterable[Message]) -> int:
    """Approximate prompt tokens of a chat, formatting overhead included."""
    return sum(estimate_tokens(m.content) + _PER_MESSAGE for m in messages)
