# Everything runs from the project venv; `make venv` creates it (or refreshes it when
# pyproject.toml changes) and every other target depends on it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_URL ?= http://127.0.0.1:8000

.PHONY: venv chromium redis run test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Start an embedded Redis unless REDIS_URL is set, seed the demo site, serve on :8000.
run: venv
	$(BIN)/python -m app run

# The browser tests need Chromium: .ci/chromium installs it where it can (root with apt-get)
# and otherwise stops with the command to run. LOBBYLINE_SKIP_BROWSER=1 skips them instead.
chromium:
	@.ci/chromium

# The Redis Cluster and Sentinel tests start servers from Debian's redis-server: .ci/redis
# installs it like Chromium (LOBBYLINE_SKIP_REDIS=1 skips the tests that need Redis).
redis:
	@.ci/redis

test: venv chromium redis
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .

# Needs a running server (`make run` in another terminal, or BENCH_URL=...).
bench: venv
	$(BIN)/python -m bench --url $(BENCH_URL)

# Removes data and caches; keeps .venv (use `rm -rf .venv` for that).
clean:
	rm -rf var test-artifacts build dist .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
