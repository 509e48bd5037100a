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

# The venv's own pip (Python >= 3.11 ships one that installs pyproject.toml projects
# in editable mode); upgrading it first would cost each fresh clone several seconds.
# `make run` skips byte-compiling every installed package (~5 s CPU): Python compiles
# the modules the server imports on its first start.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --no-compile --disable-pip-version-check -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
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
# skip, and this says so loudly.
test: lint typecheck $(STAMP)
	@command -v chromium >/dev/null || [ -n "$$SPURLINE_TEST_CHROMIUM" ] || printf '\n%s\n%s\n\n' \
	  '!!! NO CHROMIUM FOUND: the web UI browser tests (tests/ui) will be SKIPPED.' \
	  '!!! Install it with: apt-get install -y chromium  (or set SPURLINE_TEST_CHROMIUM)' >&2
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Re-take the UI screenshots shown in the README (docs/ui-*.png).
screenshots: $(STAMP)
	SPURLINE_UI_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/ui \
	  -k "paused_node or runs_list or penguins or schedules_inline or rerun_with"

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .spurline .pytest_cache .mypy_cache .ruff_cache
