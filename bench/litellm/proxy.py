"""The LiteLLM proxy, installed apart from the project, for side-by-side runs.

LiteLLM is a competitor we measure, never a dependency: it goes into its own
virtualenv under ``.bench/`` (gitignored), created on first use and reused
after that. The version is pinned so that runs stay comparable; 1.106.0 is the
newest release whose dependencies resolve from the registry we can reach, and
it sits before the yanked, compromised 1.107.0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LITELLM_VERSION = "1.106.0"
ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".bench" / "litellm-venv"
CONFIG = Path(__file__).resolve().parent / "config.yaml"
_STAMP = VENV / f".installed-{LITELLM_VERSION}"


class LiteLLMUnavailable(RuntimeError):
    """The LiteLLM proxy could not be installed; the message says why."""


def ensure_installed(timeout_s: float = 900) -> Path:
    """Return the ``litellm`` CLI, installing it into ``.bench/`` if needed."""
    cli = VENV / "bin" / "litellm"
    if _STAMP.exists() and cli.exists():
        return cli
    log = VENV.parent / "litellm-install.log"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    print(f"[bench] installing litellm[proxy]=={LITELLM_VERSION} into {VENV} (first run only)")
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"],
        [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            f"litellm[proxy]=={LITELLM_VERSION}",
        ],
    ]
    with log.open("w") as out:
        for argv in steps:
            try:
                subprocess.run(
                    argv, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=timeout_s
                )
            except (subprocess.SubprocessError, OSError) as exc:
                raise LiteLLMUnavailable(f"{' '.join(argv[:4])} failed; see {log}") from exc
    if not cli.exists():
        raise LiteLLMUnavailable(f"no {cli} after install; see {log}")
    _STAMP.touch()
    return cli


def command(cli: Path, port: int) -> list[str]:
    """The proxy's command line: one worker, our config, quiet logs."""
    return [str(cli), "--config", str(CONFIG), "--host", "127.0.0.1", "--port", str(port)] + [
        "--num_workers",
        "1",
    ]


def environment(upstream_url: str, key: str) -> dict[str, str]:
    """Variables the config reads, plus LiteLLM's switches for a quiet, offline start."""
    return {
        "BENCH_UPSTREAM_URL": upstream_url,
        "BENCH_LITELLM_KEY": key,
        "LITELLM_LOG": "ERROR",
        # Use the bundled cost map instead of fetching one at start-up.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "DISABLE_ADMIN_UI": "True",
    }
