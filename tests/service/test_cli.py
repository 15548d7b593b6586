"""The ``autoroute`` command: serve (a real process), keys, and delegation to replay/learner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service import cli
from tests.utils.redis_server import free_port


def test_serve_refuses_several_workers_without_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUTOROUTE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AUTOROUTE_REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as caught:
        cli.main(["serve", "--workers", "2"])
    assert "AUTOROUTE_REDIS_URL" in str(caught.value.code)


def test_invalid_environment_exits_with_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOROUTE_API_KEYS", "no-account-here")
    with pytest.raises(SystemExit) as caught:
        cli.main(["serve"])
    assert "AUTOROUTE_API_KEYS" in str(caught.value.code)


def test_replay_and_learner_delegate_their_arguments(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["replay", "--help"])
    assert caught.value.code == 0
    assert "--wtp" in capsys.readouterr().out
    monkeypatch.delenv("AUTOROUTE_REDIS_URL", raising=False)
    assert cli.main(["learner"]) == 2  # the learner's own check: it needs Redis
    assert "AUTOROUTE_REDIS_URL" in capsys.readouterr().out


def test_keys_create_and_revoke(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOROUTE_DATA_DIR", str(tmp_path))
    assert cli.main(["keys", "create", "carol"]) == 0
    out = capsys.readouterr().out
    key_id = re.search(r"key_id:\s+(\S+)", out)
    assert key_id and re.search(r"key:\s+ar-\S+", out)
    assert cli.main(["keys", "revoke", key_id.group(1)]) == 0
    assert cli.main(["keys", "revoke", key_id.group(1)]) == 1


def test_serve_prints_the_default_key_once_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOROUTE_", "PROMETHEUS_"))}
    env["AUTOROUTE_DATA_DIR"] = str(tmp_path / "data")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        key = _read_printed_key(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # poll readiness of the freshly started process
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        answer = httpx.post(
            f"{base}/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "hello"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.headers["x-autoroute-simulated"] == "true"
        models = httpx.get(f"{base}/v1/models", timeout=5).json()["data"]
        assert any(m["owned_by"] == "autoroute-simulated" for m in models)
        assert (tmp_path / "data" / "default_api_key").read_text().strip() == key
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
        if process.stderr is not None:
            process.stderr.close()


def _read_printed_key(process: subprocess.Popen[str]) -> str:
    assert process.stderr is not None
    for line in process.stderr:
        match = re.fullmatch(r"\s+(ar-\S+)\s*", line)
        if match:
            return match.group(1)
    raise AssertionError("serve exited without printing a key")
