"""The policy blob format."""

from __future__ import annotations

import pytest

from bandit.serialization import pack, unpack


def test_round_trip() -> None:
    header = {"kind": "global", "counts": {"*": 3}}
    assert unpack(pack(header, b"\x00model")) == (header, b"\x00model")


@pytest.mark.parametrize("blob", [b"", b"XXXX\x00\x00\x00\x01{", b"ARB1\x00\x00\x10\x00{}"])
def test_garbage_is_rejected(blob: bytes) -> None:
    with pytest.raises(ValueError):
        unpack(blob)
