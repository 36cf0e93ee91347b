# The README's two commands: `make lab` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
TARGET ?= local

.PHONY: lab test test-fast test-pypi setup setup-test lint down clean jupyter aws-smoke

lab: setup
	$(BIN)/vpclab up --target $(TARGET)

# On TEST_JOBS workers (0: in this process), each handed whole units (tests/conftest.py's
# work_unit): the shared lab's files together, so one worker builds it once, and any other file
# as a whole, so its module fixtures are built once. Labs run side by side, each with its own
# name, state and agent. Three workers on two cores: two left a third of the cores idle (the
# suite waits on hosts, timeouts and health checks), three keep them busy (docs/development.md).
# The app's line coverage must stay at 90% or more (issue: the microblog).
TEST_JOBS ?= 3
test: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	shellcheck scripts/*.sh scripts/ci/*.sh
	$(BIN)/pytest -n $(TEST_JOBS) --dist loadscope \
		--cov=app --cov-report=term:skip-covered --cov-fail-under=90

# The tiers that need neither root nor hosts (tests/conftest.py), in the same units of work
# as make test.
test-fast: setup-test
	$(BIN)/pytest -m "unit or moto" -n $(TEST_JOBS) --dist loadscope

# Opt-in: the app's requirements installed from PyPI into a fresh virtualenv.
test-pypi: setup-test
	$(BIN)/pytest -m pypi

# What the lab runs; `setup-test` adds the test and benchmark tools.
setup:
	bash scripts/bootstrap.sh

setup-test:
	bash scripts/bootstrap.sh --test

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

down: setup
	$(BIN)/vpclab down --target $(TARGET)

# The students' notebooks in JupyterLab, on this machine only. As root (the lab's hosts need
# it) JupyterLab wants --allow-root; with no display there is no browser to open.
# NOTEBOOKS: a handout's notebooks folder (`vpclab assign`) instead of the reference's.
NOTEBOOKS ?= notebooks
JUPYTER_PORT ?= 8888
JUPYTER_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root) \
	$(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)

jupyter: setup
	$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter lab --ip 127.0.0.1 --port $(JUPYTER_PORT) --notebook-dir $(NOTEBOOKS) \
		$(JUPYTER_FLAGS)

# Real AWS, opt-in, for people with an account (never part of `make test`): up, verify, down,
# nothing left, and what the run cost. It asks before creating; AWS_SMOKE_ARGS=--yes skips that.
aws-smoke: setup
	$(BIN)/python scripts/aws_smoke.py --spec lab.toml $(AWS_SMOKE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
