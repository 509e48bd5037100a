# The targets CI runs. `make run` installs the runtime dependencies only; `make test`
# (and lint, typecheck, bench) also the `dev` extra. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 6080
# bench/ may not exist yet in a fresh clone; ruff fails on a missing path.
LINT_DIRS := $(wildcard src tests bench)

.PHONY: install run test lint typecheck bench clean screenshots

# Dependencies are installed by uv, pinned and itself installed from PyPI into the venv
# by the venv's own pip (one wheel, no other dependency): it resolves and installs in
# parallel, about 11 s for the runtime dependencies of a fresh clone where pip took
# 35-50 s (bench/scenarios_cli.py --fresh-clone). Upgrading pip first would cost each
# fresh clone several seconds. `make run` skips byte-compiling every installed package
# (~5 s CPU): Python compiles the modules the server imports on its first start.
UV_VERSION := 0.13.8
UV := $(BIN)/uv
UV_INSTALL := $(UV) pip install -q --python $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install -q --no-compile --disable-pip-version-check "uv==$(UV_VERSION)"

$(RUN_STAMP): pyproject.toml | $(UV)
	$(UV_INSTALL) -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(UV)
	$(UV_INSTALL) --compile-bytecode -e ".[dev]"
	touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/spurline serve --host $(HOST) --port $(PORT) --load-examples examples

lint: $(STAMP)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/ruff check $(LINT_DIRS)

typecheck: $(STAMP)
	$(BIN)/mypy

# The browser tests need Debian's chromium (never a downloaded browser); without it they
# skip, and this says so loudly. Two pytest processes, each taking whole files (module
# fixtures such as a shared server are made once): on this 2-core machine, shared with
# other work, 23 min (load 3-5) where one process took 52 min (load 5-9).
test: lint typecheck $(STAMP)
	@command -v chromium >/dev/null || [ -n "$$SPURLINE_TEST_CHROMIUM" ] || printf '\n%s\n%s\n\n' \
	  '!!! NO CHROMIUM FOUND: the web UI browser tests (tests/ui) will be SKIPPED.' \
	  '!!! Install it with: apt-get install -y chromium  (or set SPURLINE_TEST_CHROMIUM)' >&2
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

# Re-take the UI screenshots shown in the README (docs/ui-*.png).
screenshots: $(STAMP)
	SPURLINE_UI_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/ui \
	  -k "paused_node or runs_list or penguins or schedules_inline or rerun_with"

# BENCH_ARGS="--pyspur-url http://HOST:PORT/api" adds the side-by-side run against a PySpur
# (bench/side_by_side.py); "--only a,b" picks scenarios (bench/README.md).
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .spurline .pytest_cache .mypy_cache .ruff_cache
