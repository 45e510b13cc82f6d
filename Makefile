# Latchkey developer commands. `make demo` and `make test` each set up everything on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=
# Some environments set PYTHONDONTWRITEBYTECODE=1: every service process would then compile every module
# from source at start-up (seconds of CPU each on a 2-core machine). Let Python cache bytecode.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup emulators lint typecheck contracts test test-fast demo bench bench-quick schemas clean-state

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## Install uv, the workspace, the Kafka jars and PostgreSQL if missing
	@deploy/local/setup

emulators: ## Build the connector tests' kube-apiserver and Lowkey Vault once (cached; see docs/secrets.md)
	@deploy/local/setup --emulators

lint: setup ## ruff (lint + format check), mypy --strict on every package, the demo and the benchmarks, schema compatibility
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy --strict -p latchkey.contracts -p latchkey.runtime -p latchkey.flow_engine \
		-p latchkey.expiry -p latchkey.connector -p latchkey.identity_sync
	$(UV) run mypy --strict deploy/demo/run.py bench
	$(UV) run python -m latchkey.contracts check

test: lint emulators ## Set up, lint, then run the whole suite on a real Kafka broker and PostgreSQL server
	$(UV) run pytest $(PYTEST_ARGS)

test-fast: setup emulators ## The suite without the slow fault/HA tests
	$(UV) run pytest -m "not slow" $(PYTEST_ARGS)

demo: setup ## Start Kafka, PostgreSQL and the services; run request → grant → expiry → revoke, visibly
	$(UV) run python deploy/demo/run.py

bench: setup ## Run every benchmark; writes bench/results/*.json, summary.md and plots
	$(UV) run python -m bench

bench-quick: setup ## A small version of each benchmark (under 3 minutes)
	$(UV) run python -m bench --quick

schemas: ## Regenerate the JSON Schemas and the AsyncAPI document from the contracts
	$(UV) run python -m latchkey.contracts schemas
	$(UV) run python -m latchkey.contracts asyncapi

clean-state: ## Stop leftover local Kafka/PostgreSQL of the default state dir
	-deploy/local/kafka stop
	-deploy/local/postgres stop
