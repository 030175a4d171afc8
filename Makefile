# clickpulse: `make demo` to run everything locally, `make test` to run the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install test-deps up down clean status env bench help

help:
	@echo "make demo    install, start the local stack, feed events, submit jobs, load dashboards"
	@echo "make test    run the whole test suite (starts the services it needs)"
	@echo "make down    stop every process the stack started"
	@echo "make bench   start the stack and the suite, then the quick version of every benchmark (fails when one fails)"
	@echo "make clean   stop and remove all local state (.clickpulse/, and PostgreSQL's data when run as root)"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@PYTHON=$(PYTHON) bash infra/check-prereqs.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[superset,test]'
	@touch $(STAMP)

# multi-node mode on one machine: make demo KAFKA_BROKERS=3 TASKMANAGERS=2
demo: install
	$(BIN)/clickpulse demo $(if $(KAFKA_BROKERS),--kafka-brokers $(KAFKA_BROKERS)) $(if $(TASKMANAGERS),--taskmanagers $(TASKMANAGERS))

up: install
	$(BIN)/clickpulse stack up

status: install
	$(BIN)/clickpulse stack status

env: install
	@$(BIN)/clickpulse stack env

down:
	@if [ -x $(BIN)/clickpulse ]; then $(BIN)/clickpulse stack down; else echo "nothing to stop (not installed)"; fi

clean:
	@if [ -x $(BIN)/clickpulse ]; then $(BIN)/clickpulse stack clean; fi
	rm -rf .clickpulse reports

test-deps:
	@bash infra/install-test-deps.sh

test: install test-deps
	$(BIN)/pytest $(PYTEST_ARGS)

# the stack and the suite (bench faults disturbs a running suite), without the demo's
# generator (the pipeline bench wants the cores to itself)
bench: install
	$(BIN)/clickpulse demo --history-days 0
	$(BIN)/clickpulse stack stop generator
	$(BIN)/clickpulse bench all
