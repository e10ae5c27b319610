# Dinghai skills platform. `make run` starts everything on SQLite; `make test` runs the suite
# (on PostgreSQL when DINGHAI_TEST_POSTGRES_URL names a server, otherwise on SQLite).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PY_SOURCES := libs/common/src services/training/src services/evaluation/src \
	services/finance/src services/awards/src services/indicators/src gateway/src

.PHONY: setup run test lint format bench contracts clean

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --all-packages --frozen --quiet --compile-bytecode

run: setup
	$(UV) run python tools/run_platform.py

test: setup
	$(UV) run pytest

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy $(PY_SOURCES)

format: setup
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

# Benchmarks write bench/results/<name>.json; `make bench` runs them all, `make bench-<name>` one.
# Those marked (PostgreSQL) use the machine's server at 127.0.0.1:5432. See bench/README.md.
BENCHES := gateway_hop training_enrolment evaluation_import indicators_read

bench: $(addprefix bench-,$(BENCHES))

bench-%: setup
	$(UV) run python bench/$*.py

contracts: setup
	$(UV) run python tools/export_contracts.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
