# Load balancer: build, run in Docker, test. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Everything below can be overridden: `make up N=5 HASH_FUNCTION=given LB_PORT=8080`.
NODE_IMAGE     ?= node:20-alpine
# The tag `make images` gives this project's replica server; SERVER_IMAGE is what replicas run
# (yours: `make up SERVER_IMAGE=my-app REPLICA_PORT=8080 HEALTH_PATH=/healthz`, never overwritten).
OWN_SERVER_IMAGE ?= lb-server
SERVER_IMAGE   ?= $(OWN_SERVER_IMAGE)
LB_IMAGE       ?= lb-balancer
LB_CONTAINER   ?= lb
LB_ID          ?= lb
NETWORK        ?= net1
LB_PORT        ?= 5000
# The address `make up` publishes the LB port on (compose reads it too): loopback unless you open it.
LB_BIND        ?= 127.0.0.1
# A configuration file for `make up` / `make run` (`make up LB_CONFIG=lb.yaml`); N then comes
# from it (its `n` or `replicas`) unless given here too.
ifneq ($(LB_CONFIG),)
N              ?=
LB_CONFIG_DIR  := $(abspath $(dir $(LB_CONFIG)))
LB_CONFIG_PATH := /etc/lb/$(notdir $(LB_CONFIG))
endif
N              ?= 3
COMPOSE_PROJECT_NAME ?= lb
DOCKER_GID     ?= $(shell stat -c %g /var/run/docker.sock 2>/dev/null || echo 0)
COMPOSE        ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
export NODE_IMAGE SERVER_IMAGE LB_IMAGE LB_CONTAINER LB_ID NETWORK LB_PORT LB_BIND N COMPOSE_PROJECT_NAME DOCKER_GID LB_CONFIG_DIR LB_CONFIG_PATH
LABEL := io.consistent-hash-lb.owner=$(LB_ID)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/$$(LB_PORT)/$(LB_PORT)/g' | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Installed when missing only: reinstalling (npm ci wipes the folder) under a running
# process because the lockfile's date moved would break it. After a pull, run npm ci.
node_modules:
	npm ci --no-audit --no-fund

run: | node_modules ## the LB on :$(LB_PORT) with replicas as local processes (no Docker); installs npm packages if missing
	PORT=$(LB_PORT) N=$(N) npm start

dist: | node_modules ## bundle each service into one file (esbuild)
	node scripts/build.mjs

# The legacy builder's deprecation notice (engines without buildx) is dropped: the build itself is the same.
BUILD = set -o pipefail; build() { docker build -q "$$@" 2>&1 >/dev/null | sed '/legacy builder is deprecated/,/^$$/d' >&2; }

images: dist ## build the replica and LB images (offline fallback for the base image)
	@$(BUILD); base=$$(scripts/base-image.sh) && echo "base image: $$base" && \
	build --build-arg NODE_IMAGE=$$base -f server/Dockerfile -t $(OWN_SERVER_IMAGE) . && \
	build --build-arg NODE_IMAGE=$$base -f lb/Dockerfile -t $(LB_IMAGE) . && \
	echo "built $(OWN_SERVER_IMAGE) and $(LB_IMAGE)"

up: images ## build and start the LB in Docker, wait until N replicas serve
	@# The port must be free, unless it is this LB's own (make up again is a no-op).
	@[ -n "$$(docker ps -q --filter name=^$(LB_CONTAINER)$$ --filter status=running)" ] || node scripts/port-free.mjs $(LB_BIND) $(LB_PORT)
	@# A failed start leaves nothing behind (compose would keep the created container and network).
	@$(COMPOSE) up -d || { $(COMPOSE) down --remove-orphans >/dev/null 2>&1; exit 1; }
	@LB_URL=http://127.0.0.1:$(LB_PORT) node scripts/wait-lb.mjs || { $(COMPOSE) logs --tail=50; exit 1; }
	@echo "try: curl http://127.0.0.1:$(LB_PORT)/rep"

stop: ## stop the LB, remove every replica it labelled, and the network (safe to run twice)
	@$(COMPOSE) down --remove-orphans --timeout 40 2>&1 | grep -v -e '^Network .* not found' -e 'Removing network' -e 'error while removing network' || true
	@# The LB first (so it respawns nothing), then its replicas.
	@ids=$$(docker ps -aq --filter label=$(LABEL) --filter label=io.consistent-hash-lb.role=balancer); \
	if [ -n "$$ids" ]; then docker rm -f $$ids >/dev/null && echo "removed load balancer container"; fi
	@ids=$$(docker ps -aq --filter label=$(LABEL)); \
	if [ -n "$$ids" ]; then docker rm -f $$ids >/dev/null && echo "removed $$(echo $$ids | wc -w) replica container(s)"; fi
	@# A container the LB does not own may still use the network: leave both, say so.
	@if docker network inspect $(NETWORK) >/dev/null 2>&1; then \
	  if docker network rm $(NETWORK) >/dev/null 2>&1; then echo "removed network $(NETWORK)"; \
	  else echo "kept network $(NETWORK): still used by $$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' $(NETWORK))(not ours)"; fi; \
	fi

logs: ## follow the LB's logs
	$(COMPOSE) logs -f

test: | node_modules ## npm test, chaos and browser suites, then the Docker end-to-end tests when an engine answers
	npm test
	npm run test:chaos
	@if [ -x "$${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then npm run test:browser; \
	else echo "!! no Chromium: dashboard browser tests SKIPPED (apt-get install chromium, or run .ci/run)"; fi
	@if docker info >/dev/null 2>&1; then npm run test:docker; \
	else echo "!! Docker engine not reachable: end-to-end tests SKIPPED (start dockerd, or run .ci/run)"; fi

STACK          ?= lb
SWARM_NETWORK  ?= lbnet

swarm-up: images swarm-deploy ## build the images, deploy the LB as a swarm stack (this engine must be a swarm manager)

swarm-deploy: ## deploy the stack from images already on the nodes (a registry every node pulls from, on a real cluster)
	NETWORK=$(SWARM_NETWORK) docker stack deploy --resolve-image never -c swarm-stack.yml $(STACK)
	@echo "stack $(STACK): the data plane is published on port $(LB_PORT) through the routing mesh"

swarm-stop: ## remove the stack, every replica service it labelled, and its network (safe to run twice)
	@docker stack rm $(STACK) >/dev/null 2>&1 && echo "removed stack $(STACK)" || true
	@# The controller first (so it respawns nothing), then its replicas, then the network they used.
	@# Its services go at once, its containers seconds later: until then the controller could respawn a replica.
	@for _ in $$(seq 1 120); do [ -z "$$(docker service ls -q --filter label=com.docker.stack.namespace=$(STACK))$$(docker ps -q --filter label=com.docker.stack.namespace=$(STACK))" ] && break; sleep 0.5; done
	@ids=$$(docker service ls -q --filter label=$(LABEL)); 	if [ -n "$$ids" ]; then docker service rm $$ids >/dev/null && echo "removed $$(echo $$ids | wc -w) replica service(s)"; fi
	@for _ in $$(seq 1 60); do docker network inspect $(SWARM_NETWORK) >/dev/null 2>&1 || break; docker network rm $(SWARM_NETWORK) >/dev/null 2>&1 && echo "removed network $(SWARM_NETWORK)"; sleep 0.5; done

clean: stop ## stop everything and delete build outputs and images
	rm -rf dist
	-docker rmi $(LB_IMAGE) $(OWN_SERVER_IMAGE) 2>/dev/null

.PHONY: help run dist images up stop logs test clean swarm-up swarm-deploy swarm-stop
