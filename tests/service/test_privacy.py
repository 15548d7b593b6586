"""Privacy: no prompt or response text is ever stored, in Redis or in the data dir.

Traffic carries a canary string in the prompt and in every upstream answer;
afterwards every Redis key, value and stream entry and every file in the data
dir is scanned for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from providers.base import Message
from service.app import create_app
from service.privacy import message_hash
from tests.service.conftest import ALICE, SettingsFactory, app_of
from tests.utils.fake_upstream import FakeUpstream

CANARY = "CANARY-7f3a9c-zebra-quartz"


def answer_text(text: str) -> str:
    """The answer of a plain or streamed response, in either API's shape."""
    if not text.startswith("data: "):
        body = json.loads(text)
        return str(
            body["choices"][0]["message"]["content"]
            if "choices" in body
            else body["data"]["output"]
        )
    pieces = []
    for line in text.splitlines():
        if not line.startswith("data: {"):
            continue
        event = json.loads(line[6:])
        if "choices" in event and event["choices"]:
            pieces.append(event["choices"][0]["delta"].get("content") or "")
        elif event.get("type") == "delta":
            pieces.append(event["content"])
    return "".join(pieces)


def drive_traffic(client: TestClient) -> None:
    prompt = f"Please repeat this secret back to me: {CANARY}"
    messages = [
        {"role": "system", "content": f"system {CANARY}"},
        {"role": "user", "content": prompt},
    ]
    ids = []
    for stream in (False, True):
        r = client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": messages, "stream": stream},
            headers=ALICE,
        )
        assert r.status_code == 200 and CANARY in answer_text(r.text)
        ids.append(r.headers["x-autoroute-request-id"])
        r = client.post(
            "/api/v1/chat", json={"messages": messages, "stream": stream}, headers=ALICE
        )
        assert r.status_code == 200 and CANARY in answer_text(r.text)
        ids.append(r.headers["x-autoroute-request-id"])
    for request_id in ids[:2]:
        r = client.post(
            "/api/v1/feedback", json={"request_id": request_id, "score": 4}, headers=ALICE
        )
        assert r.status_code == 200
    client.post("/api/v1/chat/estimate", json={"messages": messages})
    client.get("/api/v1/insights", headers=ALICE)
    client.portal.call(app_of(client).state.pipeline.drain)


def redis_dump(url: str) -> bytes:
    """Every key and every value of every type, as bytes."""
    r = redis.Redis.from_url(url)
    parts: list[bytes] = []
    try:
        for key in r.scan_iter(count=1000):
            parts.append(key)
            kind = r.type(key).decode()
            if kind == "string":
                parts.append(r.get(key) or b"")
            elif kind == "hash":
                for field, value in r.hgetall(key).items():
                    parts += [field, value]
            elif kind == "list":
                parts += r.lrange(key, 0, -1)
            elif kind == "set":
                parts += list(r.smembers(key))
            elif kind == "zset":
                parts += [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                for entry_id, fields in r.xrange(key):
                    parts.append(entry_id)
                    for field, value in fields.items():
                        parts += [field, value]
            else:
                raise AssertionError(f"unexpected Redis type {kind} at {key!r}")
    finally:
        r.close()
    return b"\n".join(parts)


def data_dir_dump(root: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_redis_and_data_dir_hold_no_prompt_or_response(
    make_settings: SettingsFactory, upstream: FakeUpstream, redis_url: str
) -> None:
    upstream.set(text=f"Sure! The secret is {CANARY}.")
    settings = make_settings(redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        drive_traffic(client)
    dump = redis_dump(redis_url)
    assert b"message_hash" in dump or b"decision" in dump.lower()  # we did store metadata
    assert CANARY.encode() not in dump
    assert CANARY.encode() not in data_dir_dump(settings.data_dir)


def test_embedded_data_dir_holds_no_prompt_or_response(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    upstream.set(text=f"Sure! The secret is {CANARY}.")
    settings = make_settings()
    with TestClient(create_app(settings)) as client:
        drive_traffic(client)
    dump = data_dir_dump(settings.data_dir)
    assert len(dump) > 10_000  # the SQLite store really is there
    assert CANARY.encode() not in dump


def test_message_hash_is_a_keyed_hmac() -> None:
    messages = [Message("user", "hello")]
    digest = message_hash(b"secret-one", messages)
    canonical = json.dumps([["user", "hello"]], separators=(",", ":")).encode()
    assert digest == hmac.new(b"secret-one", canonical, hashlib.sha256).hexdigest()
    assert message_hash(b"secret-two", messages) != digest
    assert message_hash(b"secret-one", [Message("user", "hello!")]) != digest


def _json_hash(secret: bytes, messages: list[Message]) -> str:
    """The hash as it was first defined: ``json`` with ``ensure_ascii=False``."""
    canonical = json.dumps(
        [[m.role, m.content] for m in messages], ensure_ascii=False, separators=(",", ":")
    )
    return hmac.new(secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def test_message_hash_is_unchanged_for_every_code_point() -> None:
    # Stored hashes group equal prompts across versions: the bytes hashed must not move.
    points = [*range(0xD800), *range(0xE000, 0x110000)]
    for start in range(0, len(points), 4096):
        text = "".join(chr(c) for c in points[start : start + 4096])
        messages = [Message("system", 'a"b\\c\n\u2028'), Message("user", text)]
        assert message_hash(b"k", messages) == _json_hash(b"k", messages)


def test_message_hash_fails_on_a_lone_surrogate_as_before() -> None:
    messages = [Message("user", "broken \ud800 text")]
    with pytest.raises(UnicodeEncodeError):
        _json_hash(b"k", messages)
    with pytest.raises(UnicodeEncodeError):
        message_hash(b"k", messages)
