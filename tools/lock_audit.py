"""Audit the pins of a pip lock file against the vulnerabilities PyPI publishes.

Usage (from the repository root)::

    python -m tools.lock_audit --strict requirements.lock \\
        --allow-unverifiable 'numpy=latest needs Python >= 3.12'

Why not pip-audit: pip-audit asks PyPI's per-version endpoint
(``/pypi/<name>/<version>/json``) or OSV for each pin. From our machines the
first answers 404 for every version and the second is unreachable, so
``pip-audit --strict`` fails on every pin (``make pip-audit`` still runs it,
for a machine that reaches them). What we do reach is the per-project endpoint
``/pypi/<name>/json``: its ``vulnerabilities`` list holds the known advisories
(PYSEC/GHSA ids with their CVE aliases, taken from OSV) of the project's
**latest** release, ``info.version``. So each pin gets one of four outcomes:

- ``vulnerable``: the pin is the latest release and PyPI lists advisories for
  it that are not withdrawn (each printed with its aliases and fixed versions);
- ``clean``: the pin is the latest release and PyPI lists none;
- ``unverifiable``: the pin is an older release. The data we reach says
  nothing about it (an advisory fixed before the latest release is not listed
  at all), so no verdict is inferred. Pins held back on purpose are allowed
  with ``--allow-unverifiable NAME=REASON``, and the reason is printed;
- ``unknown``: the project is not on the index, the pinned version is not one
  of its releases, the line is not an exact ``==`` pin, or the request still
  failed after the retries.

Not covered: any version other than the latest; advisories that PyPI does not
carry (OSV itself is not queried); dependencies missing from the lock file.

Exit status: 1 if a pin is vulnerable; with ``--fail-unknown`` also 1 for an
unknown pin; with ``--strict`` also 1 for an unknown pin or an unverifiable pin
that is not allowed; 2 for a usage error; else 0. ``make test`` uses
``--fail-unknown``: with ``--strict`` every upstream release after the lock was
written would turn CI red without any advisory behind it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

_CONTINUATION = re.compile(r"\\\n")
_COMMENT = re.compile(r"(^|\s+)#.*$")
# Per-requirement options (``--hash=...``) follow the requirement on its line.
_TRAILING_OPTIONS = re.compile(r"\s+--?[A-Za-z].*$")
_REQUIREMENT = re.compile(
    r"""^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*
    (?:\[[^\]]*\])?\s*             # extras
    (?P<spec>[^;]*?)\s*            # version specifier, or "@ url"
    (?:;.*)?$                      # environment marker: the pin is audited whatever it says
    """,
    re.VERBOSE,
)
_EXACT = re.compile(r"^===?\s*(?P<version>[A-Za-z0-9.+!_-]+)$")


class Status(StrEnum):
    CLEAN = "clean"
    VULNERABLE = "vulnerable"
    UNVERIFIABLE = "unverifiable"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Pin:
    """One requirement of the lock file; ``version`` is None unless pinned with ``==``."""

    name: str
    version: str | None
    line: int


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]
    link: str | None


@dataclass(frozen=True)
class Result:
    name: str
    version: str | None
    status: Status
    latest: str | None = None
    detail: str = ""
    advisories: tuple[Advisory, ...] = ()
    allowed: str | None = None  # the reason, for an unverifiable pin that is allowed


class FetchError(Exception):
    """The index did not answer usefully, even after the retries."""


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: ``Foo.Bar_baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> list[Pin]:
    """Requirements of a pip requirements/lock file, in file order.

    Blank lines, comments and option lines (``-e``, ``-r``, ``--index-url``, a
    ``--hash`` continuation) are skipped; extras, trailing options and
    environment markers are stripped. Raises ValueError for a line that is not
    a requirement.
    """
    pins = []
    text = text.replace("\r\n", "\n")
    for offset, logical in _logical_lines(text):
        line = _COMMENT.sub("", logical).strip()
        if not line or line.startswith("-"):
            continue
        line = _TRAILING_OPTIONS.sub("", line)
        number = text.count("\n", 0, offset) + 1
        match = _REQUIREMENT.match(line)
        if match is None:
            raise ValueError(f"line {number}: not a requirement: {line!r}")
        exact = _EXACT.match(match.group("spec"))
        pins.append(Pin(match.group("name"), exact.group("version") if exact else None, number))
    return pins


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its start offset in ``text``."""
    joined = []
    offset = 0
    for chunk in re.split(r"(?<!\\)\n", text):
        joined.append((offset, _CONTINUATION.sub(" ", chunk)))
        offset += len(chunk) + 1
    return joined


@dataclass(frozen=True)
class Index:
    """The per-project JSON endpoint of a PyPI-compatible index, with retries."""

    base_url: str = "https://pypi.org"
    timeout: float = 20.0
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry, doubled for each next one

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"index URL must be http(s)://host[:port], got {self.base_url!r}")

    def project(self, name: str) -> dict[str, Any] | None:
        """The project's JSON, or None if the index does not have it (404)."""
        url = f"{self.base_url.rstrip('/')}/pypi/{urllib.parse.quote(canonical_name(name))}/json"
        request = urllib.request.Request(  # noqa: S310 -- scheme checked in __post_init__
            url, headers={"Accept": "application/json", "User-Agent": "autoroute-lock-audit"}
        )
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                # Only http(s), checked in __post_init__: no file:// or custom schemes.
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    body = json.load(response)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code == 404:
                    return None
                error = f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    break  # a client error does not get better by asking again
            except (OSError, ValueError) as exc:  # URLError, timeouts, resets, truncated JSON
                error = f"{type(exc).__name__}: {exc}"
            else:
                if not isinstance(body, dict):
                    raise FetchError(f"{url}: not a JSON object")
                return body
        raise FetchError(f"{url}: {error} (after {attempt + 1} attempts)")


def classify(pin: Pin, project: dict[str, Any] | None) -> Result:
    """The outcome for one pin, given its project JSON (None: not on the index)."""
    if pin.version is None:
        return Result(pin.name, None, Status.UNKNOWN, detail="not an exact == pin")
    if project is None:
        return Result(pin.name, pin.version, Status.UNKNOWN, detail="project not on the index")
    latest = str(project["info"]["version"])
    if pin.version not in project.get("releases", {}):
        detail = f"{pin.version} is not a release of this project"
        return Result(pin.name, pin.version, Status.UNKNOWN, latest, detail)
    if pin.version != latest:
        detail = "not the latest release: PyPI lists vulnerabilities of the latest only"
        return Result(pin.name, pin.version, Status.UNVERIFIABLE, latest, detail)
    advisories = tuple(
        Advisory(
            id=str(v["id"]),
            aliases=tuple(v.get("aliases") or ()),
            fixed_in=tuple(v.get("fixed_in") or ()),
            link=v.get("link"),
        )
        for v in project.get("vulnerabilities") or ()
        if not v.get("withdrawn")
    )
    status = Status.VULNERABLE if advisories else Status.CLEAN
    return Result(pin.name, pin.version, status, latest, advisories=advisories)


def audit(pins: Sequence[Pin], index: Index, jobs: int = 8) -> list[Result]:
    """Classify every pin, fetching projects concurrently; results in lock order."""

    def one(pin: Pin) -> Result:
        if pin.version is None:
            return classify(pin, None)
        try:
            return classify(pin, index.project(pin.name))
        except FetchError as exc:
            return Result(pin.name, pin.version, Status.UNKNOWN, detail=str(exc))
        except (KeyError, TypeError, AttributeError) as exc:
            detail = f"unexpected project JSON ({type(exc).__name__}: {exc})"
            return Result(pin.name, pin.version, Status.UNKNOWN, detail=detail)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, pins))


def allow_unverifiable(results: Sequence[Result], allowed: dict[str, str]) -> list[Result]:
    """Mark unverifiable pins named in ``allowed`` (canonical name -> reason) as allowed."""
    return [
        replace(r, allowed=allowed[canonical_name(r.name)])
        if r.status is Status.UNVERIFIABLE and canonical_name(r.name) in allowed
        else r
        for r in results
    ]


def exit_code(results: Sequence[Result], strict: bool, fail_unknown: bool = False) -> int:
    if any(r.status is Status.VULNERABLE for r in results):
        return 1
    if (strict or fail_unknown) and any(r.status is Status.UNKNOWN for r in results):
        return 1
    if strict and any(r.status is Status.UNVERIFIABLE and r.allowed is None for r in results):
        return 1
    return 0


def summary(results: Sequence[Result]) -> str:
    count = {status: sum(r.status is status for r in results) for status in Status}
    allowed = sum(r.allowed is not None for r in results)
    return (
        f"audited {len(results)} pins: {count[Status.CLEAN]} clean, "
        f"{count[Status.VULNERABLE]} vulnerable, "
        f"{count[Status.UNVERIFIABLE]} unverifiable ({allowed} allowed), "
        f"{count[Status.UNKNOWN]} unknown"
    )


def render(results: Sequence[Result]) -> str:
    """A table of every pin, with advisories and reasons on indented lines."""
    rows = [("package", "pinned", "latest", "status")]
    rows += [(r.name, r.version or "-", r.latest or "-", r.status.value) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row, result in zip(rows, [None, *results], strict=True):
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        detail = result.detail if result else "detail"
        lines.append(f"{cells}  {detail}".rstrip())
        if result is None:
            continue
        for advisory in result.advisories:
            aliases = ", ".join(advisory.aliases) or "none"
            fixed = ", ".join(advisory.fixed_in) or "no fixed release"
            lines.append(
                f"    {advisory.id} (aliases: {aliases}; fixed in: {fixed}) {advisory.link}"
            )
        if result.allowed is not None:
            lines.append(f"    allowed: {result.allowed}")
    return "\n".join(lines)


def _unused_allowances(results: Sequence[Result], allowed: dict[str, str]) -> list[str]:
    used = {canonical_name(r.name) for r in results if r.allowed is not None}
    return [
        f"note: --allow-unverifiable {name} matches no unverifiable pin (not needed any more?)"
        for name in sorted(allowed.keys() - used)
    ]


def _allowance(value: str) -> tuple[str, str]:
    name, sep, reason = value.partition("=")
    if not sep or not name.strip() or not reason.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=REASON, got {value!r}")
    return canonical_name(name.strip()), reason.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.lock_audit",
        description="Audit a pip lock file against the vulnerabilities PyPI lists "
        "for each project's latest release.",
    )
    parser.add_argument("lock", type=Path, help="requirements/lock file (name==version lines)")
    parser.add_argument(
        "--strict", action="store_true", help="also fail on unknown and non-allowed unverifiable"
    )
    parser.add_argument(
        "--fail-unknown",
        action="store_true",
        help="also fail on unknown pins (unverifiable ones are reported, not fatal)",
    )
    parser.add_argument(
        "--allow-unverifiable",
        metavar="NAME=REASON",
        type=_allowance,
        action="append",
        default=[],
        help="a pin deliberately held back below the latest release (repeatable)",
    )
    parser.add_argument("--pypi-url", default="https://pypi.org", help="index base URL")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    parser.add_argument("--retries", type=int, default=3, help="retries after a network error")
    parser.add_argument("--backoff", type=float, default=1.0, help="first retry delay, doubled")
    parser.add_argument("--jobs", type=int, default=8, help="concurrent requests")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        index = Index(args.pypi_url, args.timeout, max(0, args.retries), max(0.0, args.backoff))
        pins = parse_lock(args.lock.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    allowed = dict(args.allow_unverifiable)
    results = allow_unverifiable(audit(pins, index, args.jobs), allowed)
    print(render(results))
    for note in _unused_allowances(results, allowed):
        print(note)
    print(summary(results))
    if args.json:
        report = {"summary": summary(results), "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return exit_code(results, args.strict, args.fail_unknown)


if __name__ == "__main__":
    sys.exit(main())
