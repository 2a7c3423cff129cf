# loopml: `make demo` runs the main job on the embedded store; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
# The monitoring benchmark's peers, each in its own virtualenv (loopml never imports them):
# Evidently 0.7 needs pandas < 3; NannyML 0.13.1 imports statsmodels without requiring it.
EVIDENTLY_STAMP := .venv-evidently/.installed
NANNYML_STAMP := .venv-nannyml/.installed

.PHONY: demo test lint typecheck layers pytest bench bench-quick peers postgres wrk chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# nannyml is installed for its census data files only (loopml.examples.census and its tests);
# its code is never imported, and its dependency pins clash with ours, hence --no-deps. It is
# not a dependency of loopml. The stamp depends on this Makefile too, so existing venvs get it.
$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps nannyml==0.13.1
	touch $@

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

$(EVIDENTLY_STAMP): Makefile
	$(PYTHON) -m venv .venv-evidently
	.venv-evidently/bin/pip install --quiet 'evidently>=0.7,<0.8' 'pandas<3' pyarrow
	touch $@

$(NANNYML_STAMP): Makefile
	$(PYTHON) -m venv .venv-nannyml
	.venv-nannyml/bin/pip install --quiet 'nannyml==0.13.1' statsmodels pyarrow
	touch $@

peers: $(EVIDENTLY_STAMP) $(NANNYML_STAMP)

demo: $(STAMP)
	$(BIN)/python -m loopml.examples.demo

test: $(STAMP) postgres lint typecheck layers pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

# pytest on PYTEST_WORKERS processes (pytest-xdist; the CI machine has two cores). The tests of
# the heaviest session fixtures (Ray, the demo, the UI's server and browser) stay on one worker
# (--dist loadgroup, tests/conftest.py). PYTEST_WORKERS=0 runs them all in this process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

# PostgreSQL runs on this machine; start it when it is down (the PostgreSQL tests never skip).
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
	  (pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start && sleep 2 && pg_isready -h 127.0.0.1 -p 5432)

# wrk (a load generator written in C) drives the concurrent serving scenarios; Debian's package.
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)

# The web UI's browser tests (tests/ui) drive Debian's chromium with Playwright.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Then `python benchmarks/render_docs.py` puts the new figures in docs/benchmarks.md and README.md.
bench: $(BENCH_STAMP) peers postgres wrk
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(BENCH_STAMP) peers postgres wrk
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) .venv-evidently .venv-nannyml .mypy_cache .ruff_cache .pytest_cache
