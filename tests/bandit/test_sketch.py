"""The lexical sketch is bounded, deterministic and keeps no words."""

from __future__ import annotations

import pytest

from bandit.sketch import lexical_sketch


def test_sketch_is_sorted_bounded_and_deterministic() -> None:
    text = "Write a Python function that sorts a list of 42 numbers. " * 20
    sketch = lexical_sketch(text, buckets=512, limit=8)
    assert sketch == lexical_sketch(text, buckets=512, limit=8)
    assert list(sketch) == sorted(set(sketch)) and len(sketch) <= 8
    assert all(0 <= b < 512 for b in sketch)


def test_numbers_share_a_bucket_and_case_is_ignored() -> None:
    assert lexical_sketch("Add 3 and 4") == lexical_sketch("add 17 AND 99")


def test_different_prompts_differ() -> None:
    assert lexical_sketch("translate to French") != lexical_sketch("prove the theorem")


def test_bucket_count_is_capped() -> None:
    with pytest.raises(ValueError):
        lexical_sketch("x", buckets=10_000)


def test_key_changes_buckets_and_default_is_unkeyed() -> None:
    text = "Write a Python function that sorts a list of numbers"
    unkeyed = lexical_sketch(text)
    assert lexical_sketch(text, key=None) == unkeyed
    keyed = lexical_sketch(text, key=b"deployment secret")
    assert keyed == lexical_sketch(text, key=b"deployment secret")
    assert keyed != unkeyed and keyed != lexical_sketch(text, key=b"another secret")
    assert all(0 <= b < 1024 for b in keyed)
