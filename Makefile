# Every target creates .venv on first use, so a fresh clone needs only `make test` or `make run`.
# `make run` installs only what running needs; test, lint, bench and fuzz add the test extra
# (pytest, ruff, mypy, Jupyter, schemathesis: most of the download). Each step says what it
# does, and pip shows its own progress.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip install --disable-pip-version-check

.PHONY: install run test lint bench fuzz faults clean

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): $(BIN)/python pyproject.toml
	@echo "==> installing codex-manager and what it needs to run, into $(VENV)"
	$(PIP) -e .
	touch $@

$(STAMP): $(BIN)/python pyproject.toml
	@echo "==> installing codex-manager with the test and lint tools, into $(VENV)"
	$(PIP) -e '.[test]'
	touch $@ $(RUN_STAMP)

# Byte-compile our sources (an editable install leaves that to the first import, which
# never happens where PYTHONDONTWRITEBYTECODE is set): saves ~70 ms of every start.
$(VENV)/.compiled: $(RUN_STAMP) $(shell find src -name '*.py')
	@echo "==> byte-compiling src"
	$(BIN)/python -m compileall -q src
	touch $@

install: $(STAMP)

# Serves on http://127.0.0.1:3001 with the demo model unless Codex credentials are found
# (it prints which). Override with e.g. `make run ARGS="--port 4000 --demo"`.
run: $(RUN_STAMP) $(VENV)/.compiled
	@echo "==> starting the server"
	$(BIN)/codex-manager serve --auto-demo $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest

# lint-imports: the import contracts in pyproject.toml ([tool.importlinter]);
# check_module_size.py: no module of src/ over 600 lines ([tool.codex-manager.module-size]).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples scripts extensions
	$(BIN)/ruff format --check src tests bench examples scripts extensions
	$(BIN)/mypy --strict
	$(BIN)/lint-imports --no-logo
	$(BIN)/python scripts/check_module_size.py

bench: $(STAMP)
	$(BIN)/python bench/runtime_turns.py --turns 10 --spawns 3
	$(BIN)/python bench/store_ops.py
	$(BIN)/python bench/event_pipeline.py --events 20000
	$(BIN)/python bench/sessions.py --creates 10 --sizes 10,1000,10000 --calls 100
	$(BIN)/python bench/http_api.py --requests 1000 --sessions 1000 --turns 30
	$(BIN)/python bench/jobs.py --jobs 2000 --samples 200
	$(BIN)/python bench/agent_jobs.py
	$(BIN)/python bench/dynamic_tools.py
	$(BIN)/python bench/extensions.py --turns 40
	$(BIN)/python bench/import_time.py

# The schemathesis fuzz test of `make test` (tests/acceptance/test_http_fuzz.py) with many
# more cases per operation (FUZZ_EXAMPLES, default 200 here, 6 in `make test`).
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/acceptance/test_http_fuzz.py

# Faults injected into a real `serve --demo` (bench/faults.py): tried / recovered / lost per
# fault, and lost must be 0. The full-disk row needs root (a private tmpfs). About 15 min;
# e.g. `make faults ARGS="--rounds 5 --only serve-kill"`.
faults: $(STAMP)
	$(BIN)/python bench/faults.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
