"""A privacy-safe lexical sketch of a prompt, for the bandit's context features.

The structured :class:`bandit.types.PromptFeatures` (query type, complexity,
token counts, structure cues) is too coarse to learn which model is better on
which *kind* of item. The sketch adds a little lexical signal without keeping
text: each word is hashed with a stable hash (CRC-32) and folded into at most
``buckets`` (<= 4096) buckets, and only the first ``limit`` distinct buckets are
kept, sorted. With thousands of words per bucket the sketch cannot be reversed
into words, so it is safe to log with the other features.

**Keying.** Unkeyed, the bucket of a word is the same in every deployment, so
anyone holding logged sketches can test guesses of words against them with a
precomputed table. A deployment that logs sketches should pass its hash secret
as ``key``: the CRC then starts from a 32-bit seed derived from the key
(BLAKE2b), so buckets differ per deployment and a table built without the key
is useless. This is a salt, not a MAC: CRC-32 is affine in its seed, so someone
who sees the sketches of prompts they chose could still learn the per-length
offsets. The replay benchmark and tests use the unkeyed default; the router only
needs the same key for the same deployment (changing it reshuffles the ``w``
features its policies learned).
"""

from __future__ import annotations

import hashlib
import re
import zlib
from functools import lru_cache

_WORD = re.compile(r"[a-z]+|\d+|[^\sa-z\d]", re.IGNORECASE)
MAX_BUCKETS = 4096
_SCAN_CHARS = 1200


@lru_cache(maxsize=16)
def sketch_seed(key: bytes | None) -> int:
    """The CRC-32 start value for ``key``: 0 unkeyed, else 32 bits of BLAKE2b(key)."""
    if key is None:
        return 0
    digest = hashlib.blake2b(key, digest_size=4, person=b"autoroute-sketch").digest()
    return int.from_bytes(digest, "big")


def lexical_sketch(
    text: str, *, buckets: int = 1024, limit: int = 48, key: bytes | None = None
) -> tuple[int, ...]:
    """Hash the first distinct words of ``text`` into sorted bucket ids.

    Args:
        text: the prompt (all messages joined); never stored.
        buckets: number of hash buckets, at most 4096.
        limit: how many distinct buckets to keep, from the first 1,200
            characters of the text, where instructions usually are.
        key: the deployment's hash secret; ``None`` (default) gives the
            unkeyed, deployment-independent buckets.

    Returns:
        Sorted, distinct bucket ids in ``[0, buckets)``.

    Example:
        >>> s = lexical_sketch("Write a Python function to add two numbers")
        >>> len(s) <= 48 and all(0 <= b < 1024 for b in s)
        True
    """
    if not 0 < buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be in (0, {MAX_BUCKETS}], got {buckets}")
    seed = sketch_seed(key)
    seen: set[int] = set()
    # Bounded scan: the head of a prompt carries its instructions, and the cost
    # must not grow with pasted documents. Distinct words in first-seen order
    # give the same buckets with fewer hashes.
    for word in dict.fromkeys(_WORD.findall(text[:_SCAN_CHARS].lower())):
        if word.isdigit():
            word = "<num>"  # numbers vary per item and carry no kind signal
        seen.add(zlib.crc32(word.encode("utf-8"), seed) % buckets)
        if len(seen) >= limit:
            break
    return tuple(sorted(seen))
