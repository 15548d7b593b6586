"""Steady chat traffic with feedback for the soak test, and what the clients saw.

Workers pace themselves to a target aggregate rate. Each sends a chat request
(OpenAI or native, some streamed) and rates one answer in two. Every outcome is
recorded by kind: ``ok``, an HTTP status with the envelope's error code
(``502 all_providers_failed``), or a transport error (``transport ReadTimeout``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

PROMPTS = (
    "Write a python function that merges two sorted lists.",
    "Translate 'good morning, how are you?' into Spanish.",
    "Summarize the causes of the French Revolution in three sentences.",
    "What is 17 * 23? Explain step by step.",
    "Write a haiku about autumn rain.",
)


@dataclass
class Tally:
    """What the clients saw."""

    chat: Counter[str] = field(default_factory=Counter)
    feedback: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    failures_at: list[float] = field(default_factory=list)  # monotonic times

    @property
    def requests(self) -> int:
        return sum(self.chat.values()) + sum(self.feedback.values())

    @property
    def served(self) -> int:
        return self.chat["ok"] + self.feedback["ok"]

    def errors(self) -> Counter[str]:
        """Failures by kind, chat and feedback together."""
        out: Counter[str] = Counter()
        for surface, counts in (("chat", self.chat), ("feedback", self.feedback)):
            for kind, n in counts.items():
                if kind != "ok":
                    out[f"{surface}: {kind}"] += n
        return out

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _kind(response: httpx.Response, text: str | None = None) -> str:
    if response.is_success:
        return "ok"
    try:
        code = json.loads(response.text if text is None else text)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "?"
    return f"{response.status_code} {code}"


def _streamed_id(lines: list[str]) -> tuple[str | None, bool]:
    """The request id of an OpenAI stream, and whether it ended cleanly."""
    request_id, errored = None, False
    for line in lines:
        if not line.startswith("data: {"):
            continue
        event = json.loads(line[6:])
        request_id = request_id or event.get("id")
        errored = errored or "error" in event
    return request_id, bool(lines) and lines[-1] == "data: [DONE]" and not errored


class Traffic:
    """``workers`` clients sending ``rate`` requests per second in total."""

    def __init__(self, base_url: str, key: str, rate: float, workers: int, seed: int) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.rate = rate
        self.workers = workers
        self.rng = random.Random(seed)  # noqa: S311 - load shape, not crypto
        self.tally = Tally()

    async def run(self, seconds: float) -> Tally:
        deadline = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=self.workers * 2)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=15, limits=limits
        ) as client:
            await asyncio.gather(*(self._worker(client, deadline) for _ in range(self.workers)))
        return self.tally

    async def _worker(self, client: httpx.AsyncClient, deadline: float) -> None:
        period = self.workers / self.rate
        while time.monotonic() < deadline:
            started = time.monotonic()
            request_id = await self._chat(client)
            if request_id is not None and self.rng.random() < 0.5:
                await self._feedback(client, request_id)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    async def _chat(self, client: httpx.AsyncClient) -> str | None:
        prompt = [{"role": "user", "content": self.rng.choice(PROMPTS)}]
        shape = self.rng.random()
        started = time.monotonic()
        try:
            if shape < 0.2:
                body = {"model": "auto", "messages": prompt, "stream": True}
                async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                    lines = [ln async for ln in response.aiter_lines() if ln]
                request_id, clean = _streamed_id(lines)
                kind = _kind(response, "".join(lines))
                if response.is_success and not clean:
                    kind = "stream ended with an error event"
            elif shape < 0.6:
                response = await client.post(
                    "/v1/chat/completions", json={"model": "auto", "messages": prompt}
                )
                kind = _kind(response)
                request_id = response.json().get("id") if response.is_success else None
            else:
                response = await client.post("/api/v1/chat", json={"messages": prompt})
                kind = _kind(response)
                request_id = response.json()["data"]["id"] if response.is_success else None
        except httpx.TransportError as exc:
            kind, request_id = f"transport {type(exc).__name__}", None
        self.tally.latencies_s.append(time.monotonic() - started)
        self.tally.chat[kind] += 1
        if kind != "ok":
            self.tally.failures_at.append(time.monotonic())
        return request_id if kind == "ok" else None

    async def _feedback(self, client: httpx.AsyncClient, request_id: str) -> None:
        body = {"request_id": request_id, "score": self.rng.randint(1, 5)}
        try:
            kind = _kind(await client.post("/api/v1/feedback", json=body))
        except httpx.TransportError as exc:
            kind = f"transport {type(exc).__name__}"
        self.tally.feedback[kind] += 1
        if kind != "ok":
            self.tally.failures_at.append(time.monotonic())
