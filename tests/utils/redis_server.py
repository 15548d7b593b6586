"""A real ``redis-server`` for tests and benchmarks, on a free port in a temp dir.

Example:
    >>> # server = RedisServer.start(tmp_path); url = server.url; server.stop()
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

REDIS_BINARY = "redis-server"


def redis_available() -> bool:
    """True if ``redis-server`` is on the PATH."""
    return shutil.which(REDIS_BINARY) is not None


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process; ``appendonly`` makes restarts keep the data."""

    def __init__(self, workdir: Path, port: int, appendonly: bool) -> None:
        self.workdir = workdir
        self.port = port
        self.appendonly = appendonly
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, workdir: Path, *, appendonly: bool = True) -> RedisServer:
        """Start a server in ``workdir`` on a free port and wait until it answers."""
        workdir.mkdir(parents=True, exist_ok=True)
        server = cls(workdir, free_port(), appendonly)
        server._spawn()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self, timeout_s: float = 10.0) -> None:
        args = [
            REDIS_BINARY,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", str(self.workdir / "redis.log"),
        ]  # fmt: skip
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not _ping(self.port):
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.workdir / 'redis.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING in time")
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut down (an AOF server flushes its log first) and wait for exit."""
        if self._proc is None:
            return
        self._proc.terminate()  # SIGTERM = SHUTDOWN: flushes the AOF
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port and directory."""
        self.stop()
        self._spawn()

    def resume(self) -> None:
        """Start again after :meth:`stop` (same port and directory)."""
        if self._proc is None:
            self._spawn()

    def flush(self) -> None:
        """Delete every key (FLUSHALL), synchronously."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            if not sock.recv(64).startswith(b"+OK"):
                raise RuntimeError("FLUSHALL failed")
