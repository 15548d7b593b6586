"""``make bench``: run every benchmark module, print one table, write JSON.

Each module in :data:`MODULES` exposes ``run() -> dict``. A module that is not
there yet is listed as missing, and one that fails is reported with its error;
neither stops the others. A module's dict may carry ``rows``: a list of
``{"measure", "value", "unit"?, "target"?, "ok"?, "note"?}`` for the table.
Without ``rows``, its numeric leaves are printed instead.

The full results go to ``bench/results/bench-<UTC time>.json`` and
``bench/results/latest.json`` (the folder is gitignored).

Usage: ``python -m bench [--strict] [module ...]``, for example
``python -m bench http_overhead``. Exit status 1 if a module failed, or with
``--strict`` also if a row missed its target.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODULES = ("bench_features", "bench_decision", "bench_learner", "bench_freshness", "http_overhead")
RESULTS = Path(__file__).resolve().parent / "results"


def run_module(name: str) -> dict[str, Any]:
    """Import ``bench.<name>`` and call its ``run()``; errors become data."""
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{name}":
            return {"status": "missing"}
        return {"status": "error", "error": traceback.format_exc()}
    started = time.monotonic()
    try:
        result = module.run()
    except Exception:
        return {"status": "error", "error": traceback.format_exc()}
    return {"status": "ok", "seconds": round(time.monotonic() - started, 1), "result": result}


def _leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        out: list[tuple[str, Any]] = []
        for key, value in data.items():
            out += _leaves(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(data, int | float) and not isinstance(data, bool):
        return [(prefix, data)]
    return []


def table_rows(name: str, outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows one module contributes to the table."""
    if outcome["status"] == "missing":
        return [{"module": name, "measure": "-", "value": "not present yet"}]
    if outcome["status"] == "error":
        last = outcome["error"].strip().splitlines()[-1]
        return [{"module": name, "measure": "-", "value": "ERROR", "note": last}]
    result = outcome["result"]
    rows = result.get("rows") if isinstance(result, dict) else None
    if rows is None:
        rows = [{"measure": k, "value": v} for k, v in _leaves(result)]
    return [{"module": name, **row} for row in rows]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def render(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: module, measure, value, unit, target, verdict, note."""
    cols = ("module", "measure", "value", "unit", "target", "ok", "note")
    cells = []
    for row in rows:
        verdict = {True: "PASS", False: "MISS"}.get(row.get("ok"), "")
        cells.append([_fmt(row.get(c, "")) if c != "ok" else verdict for c in cols])
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    names = [a for a in argv if a != "--strict"] or list(MODULES)
    report: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "modules": {}}
    rows: list[dict[str, Any]] = []
    for name in names:
        print(f"[bench] {name} ...", flush=True)
        outcome = run_module(name)
        if outcome["status"] == "error":
            print(outcome["error"], file=sys.stderr)
        report["modules"][name] = outcome
        rows += table_rows(name, outcome)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, default=str)
    out = RESULTS / f"bench-{stamp}.json"
    out.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print()
    print(render(rows))
    print(f"\nJSON: {out}")
    failed = any(o["status"] == "error" for o in report["modules"].values())
    missed = any(row.get("ok") is False for row in rows)
    return 1 if failed or (strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
