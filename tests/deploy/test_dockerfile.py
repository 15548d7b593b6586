"""deploy/Dockerfile: multi-stage, non-root, a working healthcheck, every package copied.

No Docker engine runs in CI, so the image is not built here; these checks read
the Dockerfile and run its healthcheck command against a local server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.deploy.conftest import REPO

DOCKERFILE = REPO / "deploy/Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            out.append((keyword.upper(), args.strip()))
            pending = ""
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def test_build_is_multi_stage_and_runtime_copies_from_the_build_stage() -> None:
    stages = [args for keyword, args in instructions() if keyword == "FROM"]
    assert len(stages) >= 2
    build_name = stages[0].split(" AS ")[-1].strip()
    copies = [args for keyword, args in final_stage() if keyword == "COPY"]
    assert any(c.startswith(f"--from={build_name} ") for c in copies)


def test_runtime_stage_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"0", "root"}


def test_entrypoint_is_the_autoroute_cli() -> None:
    entrypoints = [json.loads(args) for keyword, args in final_stage() if keyword == "ENTRYPOINT"]
    assert entrypoints == [["autoroute"]]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "autoroute" in pyproject["project"]["scripts"]
    cmd = [json.loads(args) for keyword, args in final_stage() if keyword == "CMD"][-1]
    assert cmd[:3] == ["serve", "--host", "0.0.0.0"]


def test_build_stage_copies_every_package_setuptools_installs() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    sources = {
        source.rstrip("/")
        for keyword, args in instructions()
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in sources, f"Dockerfile does not COPY {package}"
        assert (REPO / package / "__init__.py").is_file()
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    assert needed | set(pyproject["project"].get("license-files", [])) <= sources


def healthcheck_command() -> list[str]:
    checks = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    _, _, exec_form = checks[0].partition("CMD ")
    command: list[str] = json.loads(exec_form)
    return command


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_reflects_healthz(
    health_server: ThreadingHTTPServer, status: int, healthy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Health, "status", status)
    command = healthcheck_command()
    assert command[0] == "python"
    port = health_server.server_address[1]
    script = command[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    assert script != command[-1], "the healthcheck must probe the API port 8000"
    result = subprocess.run(
        [sys.executable, *command[1:-1], script], capture_output=True, timeout=30
    )
    assert (result.returncode == 0) is healthy, result.stderr


def test_build_context_ignores_everything_but_what_the_build_copies() -> None:
    lines = (REPO / "deploy/Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "**", "exclude everything first, then re-include"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source.rstrip("/")
        for keyword, args in instructions()
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert included == copied
