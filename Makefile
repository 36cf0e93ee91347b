# The README's two commands: `make lab` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
TARGET ?= local

.PHONY: lab test setup lint down clean jupyter aws-smoke

lab: setup
	$(BIN)/vpclab up --target $(TARGET)

# The app's line coverage must stay at 90% or more (issue: the microblog).
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest --cov=app --cov-report=term:skip-covered --cov-fail-under=90

setup:
	bash scripts/bootstrap.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

down: setup
	$(BIN)/vpclab down --target $(TARGET)

# The students' notebooks in JupyterLab, on this machine only.
jupyter: setup
	$(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter lab --ip 127.0.0.1 --notebook-dir notebooks

# Real AWS, opt-in, for people with an account (never part of `make test`): up, verify, down,
# nothing left, and what the run cost. It asks before creating; AWS_SMOKE_ARGS=--yes skips that.
aws-smoke: setup
	$(BIN)/python scripts/aws_smoke.py --spec lab.toml $(AWS_SMOKE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
