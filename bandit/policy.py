"""One Vowpal Wabbit workspace that learns the quality of each model in context.

We run VW as ``--cb_adf`` regressing **quality only** (VW cost = -quality,
bounded), and do exploration ourselves in :mod:`bandit.exploration`. Measured
on ``data/replay/`` this beats ``--cb_explore_adf`` with cost folded into the
reward: a known, large cost term makes exploration expensive and the
regression slow (see the comparison table in :mod:`bandit.router`).

We use ``--cb_type mtr`` with the label probability set to 1 (a plain
regression of the chosen model's quality, ``BanditConfig.importance_weighting``
off). Measured on zeroeval's first 1,000 items with uniformly random actions
(mean squared error of the chosen action's predicted quality, by 200-item
window): ``--cb_type dm`` did not learn at all in VW 9.11.9's cb_adf
(MSE ~0.9, predictions stuck near 0); ``mtr`` with the true p = 1/23 gave
0.11-0.16; ``mtr`` with p = 1 gave 0.08-0.11. Our own exploration logs small
propensities on purpose, and weights of 1/p ~ 500 would only add noise; the
propensity that matters for off-policy evaluation is logged by the caller.

A workspace is not thread-safe and holds the GIL: give each policy one owner.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import pylibvw
from vowpalwabbit import Workspace

from bandit.config import BanditConfig


def vw_args(config: BanditConfig, bits: int | None = None) -> str:
    """The VW command line for a fresh quality policy (``bits``: ``config.bits``)."""
    parts = [
        "--cb_adf",
        f"--cb_type {config.cb_type}",
        f"-b {config.bits if bits is None else bits}",
        f"-l {config.learning_rate}",
        f"--example_queue_limit {config.queue_limit}",
        "--quiet",
    ]
    parts += [f"-q {pair}" for pair in config.interactions]
    return " ".join(parts)


class QualityPolicy:
    """A VW ``--cb_adf`` workspace predicting each action's quality in [0, 1].

    Example:
        >>> from bandit.config import BanditConfig
        >>> p = QualityPolicy(BanditConfig())
        >>> ex = ["shared |q type=code", "|a id=x", "|a id=y"]
        >>> p.learn(["shared |q type=code", "0:-1:0.5 |a id=x", "|a id=y"])
        >>> q = p.predict(ex)
        >>> q[0] > q[1]
        True
        >>> QualityPolicy.from_bytes(p.to_bytes(), BanditConfig()).predict(ex) == q
        True
    """

    def __init__(
        self,
        config: BanditConfig,
        *,
        bits: int | None = None,
        _workspace: Workspace | None = None,
    ) -> None:
        self._config = config
        self._ws = _workspace if _workspace is not None else Workspace(vw_args(config, bits))
        self.updates = 0

    def predict(self, lines: Sequence[str]) -> list[float]:
        """Predicted quality per action line (in order), clipped to [0, 1]."""
        examples = self._parse(lines)
        try:
            pylibvw.vw.predict_multi(self._ws, examples)
            costs = examples[0].get_action_scores()
        finally:
            pylibvw.vw._finish_example_multi_ex(self._ws, examples)
        return [min(1.0, max(0.0, -float(c))) for c in costs]

    def learn(self, lines: Sequence[str]) -> None:
        """Update on one labelled multi-line example (see ``featurizer.to_vw``)."""
        examples = self._parse(lines)
        try:
            pylibvw.vw.learn_multi(self._ws, examples)
        finally:
            pylibvw.vw._finish_example_multi_ex(self._ws, examples)
        self.updates += 1

    def _parse(self, lines: Sequence[str]) -> list[Any]:
        """Parse a multi-line example into VW's native examples.

        ``Workspace.predict`` / ``learn`` wrap every native example in a Python
        ``Example`` (label-type lookups, attribute setup) before the same native
        calls; skipping that wrapper gives the same predictions and weights at
        about a fifth of the cost per call (``bench/bench_decision.py``).
        """
        text = "\n".join(lines).replace("\r", "").strip()
        examples: list[Any] = self._ws._parse(text)
        return examples

    def to_bytes(self) -> bytes:
        """Serialize the workspace (VW has no save-to-bytes: go through a temp file)."""
        with _scratch_file() as path:
            self._ws.save(path)
            with open(path, "rb") as handle:
                return handle.read()

    @classmethod
    def from_bytes(cls, blob: bytes, config: BanditConfig) -> QualityPolicy:
        """Load a workspace saved by :meth:`to_bytes`, keeping its counters."""
        if not blob:
            raise ValueError("empty VW model blob")
        with _scratch_file() as path:
            with open(path, "wb") as handle:
                handle.write(blob)
            # Reduction options come back from the file; the queue limit does not.
            ws = Workspace(
                f"--quiet -i {path} --preserve_performance_counters"
                f" --example_queue_limit {config.queue_limit}"
            )
        return cls(config, _workspace=ws)

    def num_weights(self) -> int:
        """The size of VW's weight table: 2 ** bits."""
        return int(self._ws.num_weights())

    def close(self) -> None:
        """Release the native workspace now rather than at garbage collection."""
        self._ws.finish()


# One private scratch folder per process (a forked worker makes its own), in
# memory where /dev/shm exists. A TemporaryDirectory per call cost more than
# the save itself: mkdir + rmdir measured 2.7 ms per export on this machine's
# disk against 1-2 ms for VW's save (cProfile of the Redis learner).
_SCRATCH: dict[int, str] = {}
_NAMES = itertools.count()
_SHM = "/dev/shm"  # noqa: S108 - a private mkdtemp folder inside it, mode 0700


def _scratch_dir() -> str:
    pid = os.getpid()
    folder = _SCRATCH.get(pid)
    if folder is None or not os.path.isdir(folder):
        parent = _SHM if os.access(_SHM, os.W_OK) else None
        folder = _SCRATCH[pid] = tempfile.mkdtemp(prefix="autoroute-vw-", dir=parent)
        atexit.register(_remove_scratch, pid, folder)
    return folder


def _remove_scratch(pid: int, folder: str) -> None:
    if os.getpid() == pid:  # never a parent's folder from a forked child
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _scratch_file() -> Iterator[str]:
    """A fresh path in the scratch folder, removed afterwards."""
    path = os.path.join(_scratch_dir(), f"{threading.get_ident()}-{next(_NAMES)}.vw")
    try:
        yield path
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)
