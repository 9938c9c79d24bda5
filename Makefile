# Everything runs from the project venv; `make venv` creates it (or refreshes it when
# pyproject.toml changes) and every other target depends on it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_URL ?= http://127.0.0.1:8000

.PHONY: venv chromium redis run test lint fuzz bench clean

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

# Two test processes: most of the suite's time is waiting (browsers, servers, sockets), so
# two take 8 minutes where one takes 12. Each uses its own Redis database (tests/conftest.py).
TEST_JOBS ?= 2
test: venv chromium redis
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_JOBS)

lint: venv
	$(BIN)/ruff check .

# The API fuzz of tests/test_openapi.py at 5,000 cases per mode (10,000 in all) instead of
# the suite's 1,000; needs Redis like the suite.
FUZZ_EXAMPLES ?= 5000
fuzz: venv
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_openapi.py -q

# Needs a running server (`make run` in another terminal, or BENCH_URL=...).
bench: venv
	$(BIN)/python -m bench --url $(BENCH_URL)

# Removes data and caches; keeps .venv (use `rm -rf .venv` for that).
clean:
	rm -rf var test-artifacts build dist .pytest_cache .ruff_cache *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
