# converge: the two commands of a fresh machine are `make demo` and `make test`.
# Every target installs what it needs first (idempotent), from the project's own files.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed
# Every parity case checked against genmodel appends a line; docs/mojo.md's scope table must match.
PARITY_REPORT := $(CURDIR)/.converge/parity-report.jsonl
# The tests' PostgreSQL, Redis, wrk and Java: reused when there, else brought up for the run and
# stopped after it (converge/local_services.py; .ci/run goes through here too).
SERVICES := $(BIN)/python -m converge.local_services --
# Extra pytest arguments, e.g. `make test PYTEST_ARGS='tests/db -x'`; the MOJO scope table is
# checked against a whole run only.
PYTEST_ARGS ?=

.PHONY: install demo mage test test-fast mojo-scope lint typecheck versions-check lock ui serve \
        bench-gin bench-mojo bench-fanout bench-serve bench-ingest clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.8
	$(UV) pip install --python $(BIN)/python --compile-bytecode --require-hashes -r requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

demo: install  ## Run the whole pipeline end to end on embedded defaults.
	$(BIN)/converge demo

mage: install  ## The same fan-out as a Mage pipeline (own virtualenv from mage_pipeline/requirements.lock).
	$(BIN)/converge mage run

test: install  ## Run the whole test suite (real PostgreSQL, Redis, H2O, S3 API).
	mkdir -p $(dir $(PARITY_REPORT)) && rm -f $(PARITY_REPORT)
	CONVERGE_PARITY_REPORT=$(PARITY_REPORT) $(SERVICES) $(BIN)/pytest $(PYTEST_ARGS)
	$(if $(PYTEST_ARGS),,$(BIN)/python scripts/mojo_scope_table.py --report $(PARITY_REPORT) --check)

mojo-scope: install  ## Re-run the MOJO parity tests and rewrite docs/mojo.md's scope table.
	mkdir -p $(dir $(PARITY_REPORT)) && rm -f $(PARITY_REPORT)
	CONVERGE_PARITY_REPORT=$(PARITY_REPORT) $(SERVICES) $(BIN)/pytest -m h2o tests/mojo
	$(BIN)/python scripts/mojo_scope_table.py --report $(PARITY_REPORT) --write

test-fast: install  ## Tests that need no H2O JVM.
	$(SERVICES) $(BIN)/pytest -m "not h2o" $(PYTEST_ARGS)

CODE := converge shared assets resources serving bench scripts tests

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy $(filter-out tests,$(CODE))

versions-check: install
	$(BIN)/converge versions check

lock: install  ## Re-resolve requirements.lock from pyproject.toml.
	scripts/update_lock.sh

ui: install
	$(BIN)/converge ui

serve: install
	$(BIN)/converge serve

bench-gin: install
	$(BIN)/converge bench gin --rows 1000000

bench-ingest: install
	$(BIN)/converge bench ingest

bench-mojo: install
	$(BIN)/converge bench mojo

bench-fanout: install
	$(BIN)/converge bench fanout

bench-serve: install
	$(BIN)/converge bench serve

clean:
	rm -rf $(VENV) .converge .mypy_cache .ruff_cache .pytest_cache
