"""``tools.lock_audit`` against a local index that serves PyPI's per-project JSON.

The canned projects copy the shape of ``https://pypi.org/pypi/<name>/json``
(``info``, ``releases`` of file dicts, ``urls``, ``vulnerabilities``,
``last_serial``); the ecdsa advisories are PyPI's own. No test needs the internet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools.lock_audit import Index, Pin, Status, audit, main, parse_lock

ROOT = Path(__file__).resolve().parents[2]

ECDSA_ADVISORIES = [
    {
        "aliases": ["CVE-2024-23342", "GHSA-wj6h-64fc-37mp"],
        "details": "python-ecdsa has been found to be subject to a Minerva timing attack "
        "on the P-256 curve.",
        "fixed_in": [],
        "id": "PYSEC-2026-1325",
        "link": "https://osv.dev/vulnerability/PYSEC-2026-1325",
        "source": "osv",
        "summary": None,
        "withdrawn": None,
    },
    {
        "aliases": ["CVE-2024-23342", "PYSEC-2026-1325"],
        "details": "python-ecdsa has been found to be subject to a Minerva timing attack "
        "on the P-256 curve.",
        "fixed_in": [],
        "id": "GHSA-wj6h-64fc-37mp",
        "link": "https://osv.dev/vulnerability/GHSA-wj6h-64fc-37mp",
        "source": "osv",
        "summary": None,
        "withdrawn": None,
    },
]


def _file(name: str, version: str) -> dict[str, Any]:
    filename = f"{name}-{version}-py3-none-any.whl"
    return {
        "comment_text": None,
        "digests": {"blake2b_256": "00" * 32, "md5": "00" * 16, "sha256": "00" * 32},
        "filename": filename,
        "md5_digest": "00" * 16,
        "packagetype": "bdist_wheel",
        "python_version": "py3",
        "requires_python": ">=3.9",
        "size": 1234,
        "upload_time": "2026-03-26T09:58:15",
        "upload_time_iso_8601": "2026-03-26T09:58:15.808678Z",
        "url": f"https://files.pythonhosted.org/packages/00/00/{filename}",
        "yanked": False,
        "yanked_reason": None,
    }


def project(
    name: str, releases: list[str], vulnerabilities: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A project JSON in PyPI's shape; the last of ``releases`` is the latest."""
    latest = releases[-1]
    return {
        "info": {"name": name, "version": latest, "requires_python": ">=3.9", "yanked": False},
        "last_serial": 35495816,
        "releases": {version: [_file(name, version)] for version in releases},
        "urls": [_file(name, latest)],
        "vulnerabilities": vulnerabilities or [],
    }


@dataclass
class FakeIndex:
    """What the local index serves, and what it was asked."""

    url: str = ""
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, list[int]] = field(default_factory=dict)  # statuses to answer first
    hits: Counter[str] = field(default_factory=Counter)


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops the SYNs of 8 concurrent clients (1 s resend)


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    fake = FakeIndex()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = self.path.strip("/").split("/")
            name = parts[1] if len(parts) == 3 and parts[::2] == ["pypi", "json"] else ""
            with lock:
                fake.hits[name] += 1
                pending = fake.errors.get(name)
                status = pending.pop(0) if pending else 200
            if status == 200 and name not in fake.projects:
                status = 404
            body = json.dumps(fake.projects[name]).encode() if status == 200 else b"{}"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def run(tmp_path: Path, fake: FakeIndex, lock: str, *args: str) -> tuple[int, dict[str, Any]]:
    """Run the command line on ``lock``; returns (exit code, the --json report)."""
    lock_path = tmp_path / "requirements.lock"
    lock_path.write_text(lock)
    out = tmp_path / "report.json"
    argv = [str(lock_path), "--pypi-url", fake.url, "--retries", "2", "--backoff", "0"]
    argv += ["--timeout", "5", "--json", str(out), *args]
    code = main(argv)
    return code, json.loads(out.read_text())


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["status"] for r in report["results"]}


# --- parsing ------------------------------------------------------------------------------


def test_parse_lock_keeps_pins_and_skips_everything_else() -> None:
    text = (
        "# generated by pip freeze\n"
        "\n"
        "--index-url https://example.invalid/simple\n"
        "-r other.txt\n"
        "-e .\n"
        "-e git+https://example.invalid/repo.git#egg=thing\n"
        "Django==5.2.1  # inline comment\n"
        'uvloop==0.23.0 ; sys_platform != "win32"\n'
        "uvicorn[standard]==0.54.0\n"
        "attrs==26.1.0 \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash=sha256:bbbb\n"
        "    # via cattrs\n"
        "idna==3.10 --hash=sha256:cccc\r\n"
        "ruff>=0.6\n"
        "thing @ https://example.invalid/thing-1.0.tar.gz\n"
        "boolean.py==5.0\n"
    )
    assert parse_lock(text) == [
        Pin("Django", "5.2.1", 7),
        Pin("uvloop", "0.23.0", 8),
        Pin("uvicorn", "0.54.0", 9),
        Pin("attrs", "26.1.0", 10),
        Pin("idna", "3.10", 14),
        Pin("ruff", None, 15),
        Pin("thing", None, 16),
        Pin("boolean.py", "5.0", 17),
    ]


def test_parse_lock_rejects_a_line_that_is_not_a_requirement() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_lock("attrs==26.1.0\n==1.0\n")


def test_the_repository_lock_parses_to_exact_pins_only() -> None:
    pins = parse_lock((ROOT / "requirements.lock").read_text())
    assert len(pins) > 50
    assert all(pin.version for pin in pins), [p for p in pins if not p.version]


# --- outcomes -----------------------------------------------------------------------------


def test_each_outcome(tmp_path: Path, index: FakeIndex, capsys: pytest.CaptureFixture[str]) -> None:
    withdrawn = dict(ECDSA_ADVISORIES[0], id="PYSEC-0000-1", withdrawn="2026-01-01T00:00:00Z")
    index.projects = {
        "ecdsa": project("ecdsa", ["0.19.1", "0.19.2"], ECDSA_ADVISORIES),
        "attrs": project("attrs", ["25.4.0", "26.1.0"]),
        "idna": project("idna", ["3.9", "3.10"], [withdrawn]),
        "numpy": project("numpy", ["2.4.6", "2.5.5"]),
        "pyyaml": project("PyYAML", ["6.0.2", "6.0.3"]),
    }
    lock = (
        "ecdsa==0.19.2\nattrs==26.1.0\nidna==3.10\nnumpy==2.4.6\n"
        "PyYAML==6.0.1\nmissing-project==1.0\nruff>=0.6\n"
    )
    code, report = run(tmp_path, index, lock)
    assert statuses(report) == {
        "ecdsa": "vulnerable",
        "attrs": "clean",
        "idna": "clean",  # its only advisory is withdrawn
        "numpy": "unverifiable",
        "PyYAML": "unknown",  # 6.0.1 is not among the releases served
        "missing-project": "unknown",
        "ruff": "unknown",
    }
    assert code == 1
    ecdsa = report["results"][0]
    assert [a["id"] for a in ecdsa["advisories"]] == ["PYSEC-2026-1325", "GHSA-wj6h-64fc-37mp"]
    assert ecdsa["advisories"][0]["aliases"] == ["CVE-2024-23342", "GHSA-wj6h-64fc-37mp"]
    assert report["results"][3]["latest"] == "2.5.5"
    assert index.hits["pyyaml"] == 1  # asked by its canonical name
    assert report["results"][5]["detail"] == "project not on the index"
    assert index.hits["missing-project"] == 1  # a 404 is an answer, not retried
    assert "ruff" not in index.hits  # nothing to ask about a range

    out = capsys.readouterr().out
    assert (
        "PYSEC-2026-1325 (aliases: CVE-2024-23342, GHSA-wj6h-64fc-37mp; fixed in: no fixed" in out
    )
    assert "latest only" in next(line for line in out.splitlines() if line.startswith("numpy"))
    summary = "audited 7 pins: 2 clean, 1 vulnerable, 1 unverifiable (0 allowed), 3 unknown"
    assert out.splitlines()[-1] == summary == report["summary"]


def test_fixed_in_is_printed(
    tmp_path: Path, index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    advisory = dict(ECDSA_ADVISORIES[0], id="GHSA-xxxx", aliases=[], fixed_in=["3.0"])
    index.projects = {"thing": project("thing", ["1.0", "2.0"], [advisory])}
    code, report = run(tmp_path, index, "thing==2.0\n")
    assert code == 1
    assert "GHSA-xxxx (aliases: none; fixed in: 3.0)" in capsys.readouterr().out


def test_a_project_json_of_another_shape_is_unknown(tmp_path: Path, index: FakeIndex) -> None:
    index.projects = {"attrs": {"releases": {"26.1.0": []}}}  # no "info"
    code, report = run(tmp_path, index, "attrs==26.1.0\n", "--strict")
    assert (code, statuses(report)) == (1, {"attrs": "unknown"})
    assert report["results"][0]["detail"].startswith("unexpected project JSON (KeyError")


# --- exit codes, strict mode and the allow-list -------------------------------------------


@pytest.fixture
def held_back(index: FakeIndex) -> FakeIndex:
    index.projects = {
        "attrs": project("attrs", ["26.1.0"]),
        "numpy": project("numpy", ["2.4.6", "2.5.5"]),
        "contourpy": project("contourpy", ["1.3.3", "1.4.0"]),
    }
    return index


LOCK = "attrs==26.1.0\nnumpy==2.4.6\ncontourpy==1.3.3\n"


def test_unverifiable_passes_without_strict(tmp_path: Path, held_back: FakeIndex) -> None:
    assert run(tmp_path, held_back, LOCK)[0] == 0


def test_strict_fails_on_unverifiable_unless_every_one_is_allowed(
    tmp_path: Path, held_back: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, held_back, LOCK, "--strict")[0] == 1
    one = ["--allow-unverifiable", "numpy=latest needs Python >= 3.12"]
    assert run(tmp_path, held_back, LOCK, "--strict", *one)[0] == 1
    both = [*one, "--allow-unverifiable", "ContourPy=latest needs Python >= 3.12"]
    capsys.readouterr()
    code, report = run(tmp_path, held_back, LOCK, "--strict", *both)
    assert code == 0
    assert [r["allowed"] for r in report["results"]] == [None, *["latest needs Python >= 3.12"] * 2]
    out = capsys.readouterr().out
    assert out.count("    allowed: latest needs Python >= 3.12") == 2
    assert out.splitlines()[-1].endswith("2 unverifiable (2 allowed), 0 unknown")


def test_strict_fails_on_unknown(tmp_path: Path, held_back: FakeIndex) -> None:
    lock = "attrs==26.1.0\nnot-on-the-index==1.0\n"
    assert run(tmp_path, held_back, lock)[0] == 0
    assert run(tmp_path, held_back, lock, "--strict")[0] == 1


def test_fail_unknown_fails_on_unknown_but_not_on_unverifiable(
    tmp_path: Path, held_back: FakeIndex
) -> None:
    # make test's mode: a release upstream after the lock was written is no advisory.
    assert run(tmp_path, held_back, LOCK, "--fail-unknown")[0] == 0
    lock = LOCK + "not-on-the-index==1.0\n"
    assert run(tmp_path, held_back, lock, "--fail-unknown")[0] == 1


def test_an_allowance_covers_only_unverifiable_pins(
    tmp_path: Path, index: FakeIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    index.projects = {"ecdsa": project("ecdsa", ["0.19.2"], ECDSA_ADVISORIES)}
    code, report = run(tmp_path, index, "ecdsa==0.19.2\n", "--allow-unverifiable", "ecdsa=x")
    assert code == 1
    assert report["results"][0]["allowed"] is None
    assert "--allow-unverifiable ecdsa matches no unverifiable pin" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["numpy", "numpy=", "=reason"])
def test_an_allowance_needs_a_name_and_a_reason(
    tmp_path: Path, index: FakeIndex, value: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path, index, LOCK, "--allow-unverifiable", value)
    assert exit_info.value.code == 2


def test_only_http_index_urls_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "lock").write_text(LOCK)
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "lock"), "--pypi-url", "file:///etc"])
    assert exit_info.value.code == 2


# --- network errors -----------------------------------------------------------------------


def test_server_errors_are_retried(tmp_path: Path, index: FakeIndex) -> None:
    index.projects = {"attrs": project("attrs", ["26.1.0"])}
    index.errors = {"attrs": [503, 502]}
    code, report = run(tmp_path, index, "attrs==26.1.0\n", "--strict")
    assert (code, statuses(report)) == (0, {"attrs": "clean"})
    assert index.hits["attrs"] == 3


def test_errors_that_outlast_the_retries_are_unknown(tmp_path: Path, index: FakeIndex) -> None:
    index.projects = {"attrs": project("attrs", ["26.1.0"])}
    index.errors = {"attrs": [503, 503, 503, 503]}
    code, report = run(tmp_path, index, "attrs==26.1.0\n", "--strict")
    assert (code, statuses(report)) == (1, {"attrs": "unknown"})
    assert "HTTP 503 (after 3 attempts)" in report["results"][0]["detail"]
    assert index.hits["attrs"] == 3  # --retries 2


def test_client_errors_are_not_retried(tmp_path: Path, index: FakeIndex) -> None:
    index.errors = {"attrs": [403]}
    code, report = run(tmp_path, index, "attrs==26.1.0\n")
    assert statuses(report) == {"attrs": "unknown"}
    assert index.hits["attrs"] == 1


def test_a_closed_server_makes_every_pin_unknown_after_the_retries(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    server.server_close()  # nothing listens on the port any more
    closed = FakeIndex(url=url)
    code, report = run(tmp_path, closed, "attrs==26.1.0\nidna==3.10\n", "--strict")
    assert (code, statuses(report)) == (1, {"attrs": "unknown", "idna": "unknown"})
    for result in report["results"]:
        assert "URLError" in result["detail"] and "after 3 attempts" in result["detail"]


def test_audit_keeps_lock_order_with_concurrent_requests(index: FakeIndex) -> None:
    names = [f"pkg{i}" for i in range(20)]
    index.projects = {name: project(name, ["1.0"]) for name in names}
    pins = [Pin(name, "1.0", i) for i, name in enumerate(names)]
    results = audit(pins, Index(index.url, timeout=5, retries=0), jobs=8)
    assert [r.name for r in results] == names
    assert {r.status for r in results} == {Status.CLEAN}


def test_runs_as_a_module_from_the_repository_root(tmp_path: Path, held_back: FakeIndex) -> None:
    (tmp_path / "lock").write_text(LOCK)
    completed = subprocess.run(
        [sys.executable, "-m", "tools.lock_audit", str(tmp_path / "lock")]
        + ["--pypi-url", held_back.url, "--strict", "--retries", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1, completed.stderr
    last = completed.stdout.splitlines()[-1]
    assert last == "audited 3 pins: 1 clean, 0 vulnerable, 2 unverifiable (0 allowed), 0 unknown"
