# slamon — the two commands: `make demo` and `make test`. Both install what they need.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# bash with pipefail: `make bench` pipes each benchmark through tee, and a failing one must fail make.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: demo test fuzz lint bench clean deps-system

$(BIN)/python:
	@$(PY) -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV) 2>/dev/null || { \
	  echo "venv module missing: installing python3-venv"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv; \
	  python3 -m venv $(VENV); }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

deps-system:
	@scripts/install-test-deps.sh

demo: $(STAMP)
	$(BIN)/slamon demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check monitor adapters bench tests
	$(BIN)/mypy

test: $(STAMP) deps-system lint
	CI=$${CI:-} $(BIN)/pytest -q

# The fuzz tests with 25x the examples `make test` runs, randomized (a failure prints its reproduction blob);
# also the property tests that live beside the units they test.
FUZZ_ALSO := tests/unit/test_framing.py tests/unit/test_mime.py tests/unit/test_mail_translate.py \
	tests/unit/test_imap_wire.py
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/fuzz $(FUZZ_ALSO) --hypothesis-show-statistics

# Each benchmark's figures are kept under var/bench; summary.py reads them back into one line per
# headline figure (goal, met/missed) and ends with a one-line summary. The services the benchmarks
# start (PostgreSQL, Dovecot) come from deps-system. load.py exits 1 when its acceptance fails: the
# summary is still printed, then make fails.
bench: $(STAMP) deps-system
	@mkdir -p var/bench
	$(BIN)/python bench/ami_ingest.py | tee var/bench/ami_ingest.txt
	$(BIN)/python bench/imap_sync.py | tee var/bench/imap_sync.txt
	$(BIN)/python bench/store_write.py | tee var/bench/store_write.txt
	$(BIN)/python bench/api.py | tee var/bench/api.txt
	$(BIN)/python bench/load.py | tee var/bench/load.txt; status=$$?; \
	  $(BIN)/python bench/summary.py var/bench; exit $$status

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
