# Two commands: `make run` serves on the embedded default, `make test` runs every check.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit bench soak lock audit audit-strict pip-audit clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/autoroute serve

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit audit

$(VENV)/.bench-stamp: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-stamp
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python -m bench

soak: $(STAMP)
	$(BIN)/python -m bench.soak

# requirements.lock pins every installed distribution (runtime, dev and bench).
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > requirements.lock

# Needs https://pypi.org (the per-project JSON API): PyPI's advisories for each pin that is the
# latest release. An older pin is "unverifiable": `make audit` (part of `make test`) reports it and
# fails on vulnerable or unknown pins only, since every upstream release would otherwise turn CI red
# with no advisory behind it; `make audit-strict` also fails on it unless allowed here with a reason.
AUDIT_HELD_BACK := \
	--allow-unverifiable 'numpy=numpy 2.5+ requires Python >= 3.12; we support 3.11' \
	--allow-unverifiable 'contourpy=contourpy 1.4+ requires Python >= 3.12; we support 3.11'
audit: $(STAMP)
	$(BIN)/python -m tools.lock_audit --fail-unknown $(AUDIT_HELD_BACK) requirements.lock

audit-strict: $(STAMP)
	$(BIN)/python -m tools.lock_audit --strict $(AUDIT_HELD_BACK) requirements.lock

# The same check with pip-audit, which needs PyPI's per-version JSON API or OSV (api.osv.dev):
# neither answers from our machines, so here it stops at the first pin ("not found on PyPI").
pip-audit: $(STAMP)
	$(BIN)/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
