"""Processes for the HTTP benchmarks: servers pinned to a core, and wrk runs.

Every server starts in its own session, so stopping it (SIGTERM, then SIGKILL)
reaches its workers too, and its CPU time is the sum over that session.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark could not run; the message says why."""


def pinned(argv: list[str], cpu: str) -> list[str]:
    """``argv`` under ``taskset -c cpu`` when the machine has cores to pin to."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", cpu, *argv]
    return argv


def python_module(module: str, *args: str) -> list[str]:
    """Run a module with the interpreter running the bench."""
    return [sys.executable, "-m", module, *args]


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process pinned to one core; a context manager that stops it."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], cpu: str, logdir: Path
    ) -> None:
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                pinned(argv, cpu),
                env={**os.environ, **env},
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            raise BenchError(f"cannot start {name}: {exc}") from exc

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after 10 s."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Workers outlive a parent that ignored SIGTERM's group delivery.
        self._signal(signal.SIGKILL)
        self._log.close()

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def wait_port(self, port: int, timeout_s: float) -> None:
        """Wait until the server accepts connections."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise BenchError(f"{self.name} did not listen on {port} in {timeout_s:g} s")

    def wait_ready(self, url: str, bodies: Path, key: str, timeout_s: float) -> dict[str, Any]:
        """Wait until a real chat request succeeds end to end; return its answer."""
        body = bodies.read_text().splitlines()[0].encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            self._check_alive()
            # Loopback http URLs that this module builds itself.
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
                    answer: dict[str, Any] = json.loads(resp.read())
                if answer.get("choices"):
                    return answer
                last = f"no choices in {answer}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
            except (OSError, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise BenchError(
            f"{self.name} not ready after {timeout_s:g} s ({last}):\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """User plus system CPU time of every live process in the server's session."""
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[3]) == self.proc.pid:
                total += sum(int(f) for f in fields[11:15])
        return total / _TICK


def require_wrk() -> str:
    """Path to wrk, or a BenchError that says how to install it."""
    path = shutil.which("wrk")
    if not path:
        raise BenchError("wrk not found: `apt-get install -y wrk` (make bench does it)")
    return path


def wrk_version() -> str:
    out = subprocess.run([require_wrk(), "-v"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0]


def wrk(
    url: str,
    bodies: Path,
    key: str,
    connections: int,
    seconds: float,
    cpu: str,
    lua: Path,
) -> dict[str, Any]:
    """One wrk run with chat.lua; its JSON summary."""
    argv = [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    argv += ["-s", str(lua), url, "--", str(bodies), key]
    out = subprocess.run(
        pinned(argv, cpu), capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            stats: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            stats["connections"] = connections
            errors = sum(stats["errors"].values())
            if stats["requests"] == 0 or errors > stats["requests"] // 100:
                raise BenchError(f"wrk against {url}: {errors} errors in {stats}")
            return stats
    raise BenchError(f"wrk printed no summary (exit {out.returncode}): {out.stderr[-500:]}")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
