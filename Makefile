# Load balancer: build, run in Docker, test. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

test: node_modules ## npm test, then the Docker end-to-end tests when an engine answers
	npm test

.PHONY: help test
