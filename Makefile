# ocix: `make demo` and `make test` do all set-up on a fresh Debian bookworm machine (as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
OCIX   := $(VENV)/bin/ocix
GOCODE := /usr/share/gocode/src

# What the project needs from Debian: "check:package".  A check is a command name (looked up on
# PATH, so a Docker or containerd installed some other way counts) or an absolute file path.
SYSTEM_DEPS := \
	containerd:containerd \
	runc:runc \
	crun:crun \
	dockerd:docker.io \
	docker-registry:docker-registry \
	static-busybox:busybox-static \
	catatonit:catatonit \
	/usr/lib/cni/loopback:containernetworking-plugins \
	podman:podman \
	conmon:conmon \
	newuidmap:uidmap \
	rootlesskit:rootlesskit \
	slirp4netns:slirp4netns \
	skopeo:skopeo \
	chromium:chromium \
	chromedriver:chromium-driver \
	mmdebstrap:mmdebstrap \
	$(GOCODE)/github.com/containerd/containerd/api/services/version/v1/version.proto:golang-github-containerd-containerd-dev \
	$(GOCODE)/github.com/gogo/protobuf/gogoproto/gogo.proto:golang-github-gogo-protobuf-dev \
	$(GOCODE)/github.com/opencontainers/image-spec/schema/image-manifest-schema.json:golang-github-opencontainers-image-spec-dev \
	$(GOCODE)/github.com/opencontainers/runtime-spec/schema/config-schema.json:golang-github-opencontainers-specs-dev

.PHONY: help setup system-deps venv stubs demo test unit integration lint bench clean

help:
	@echo "make demo   set up what is missing, start the lab, run the main job"
	@echo "make test   set up what is missing, run the whole test suite"
	@echo "make setup  system packages, .venv, generated stubs (idempotent)"
	@echo "make lint   ruff + mypy"
	@echo "make bench  benchmarks against ctr/runc/docker (needs the lab)"

setup: system-deps venv stubs

# Installs only what is absent; never starts or enables a system service.
system-deps:
	@missing=(); for dep in $(SYSTEM_DEPS); do \
	  check=$${dep%%:*}; pkg=$${dep#*:}; \
	  case "$$check" in \
	    /*) [ -e "$$check" ] || missing+=("$$pkg") ;; \
	    static-busybox) { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=("$$pkg") ;; \
	    *) command -v "$$check" >/dev/null 2>&1 || [ -x "/usr/sbin/$$check" ] || missing+=("$$pkg") ;; \
	  esac; \
	done; \
	$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv); \
	if [ $${#missing[@]} -eq 0 ]; then echo "system packages: all present"; exit 0; fi; \
	echo "system packages: installing $${missing[*]}"; \
	if [ "$$(id -u)" != 0 ]; then echo "run as root to install: $${missing[*]}" >&2; exit 1; fi; \
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
	[ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && apt-get install -y -q --no-install-recommends "$${missing[@]}" || exit 1; \
	if command -v systemctl >/dev/null 2>&1; then \
	  for u in containerd.service:containerd docker.service:docker.io docker.socket:docker.io \
	           podman.socket:podman podman.service:podman; do \
	    unit=$${u%%:*}; owner=$${u#*:}; \
	    [[ " $${missing[*]} " == *" $$owner "* ]] && systemctl is-enabled -q $$unit 2>/dev/null \
	      && { systemctl disable -q $$unit || true; \
	           [ -d /run/systemd/system ] && systemctl stop -q $$unit || true; }; \
	  done; \
	fi

# editable_mode=compat: a .pth path entry instead of setuptools' import finder, which would cost
# every `ocix` start-up ~25 ms.
$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[dev]' --config-settings editable_mode=compat \
	  || $(PY) -m pip install -q -e '.[dev]'  # a setuptools without compat mode: slower start-up
	@touch $@

venv: $(VENV)/.installed

# The script hashes its inputs and returns at once when nothing changed.  compileall writes the
# .pyc files once: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every `ocix` start would
# otherwise compile every module again.
stubs: venv
	@$(PY) proto/build.py
	@$(PY) -m compileall -q -j 0 ocix >/dev/null

demo: setup
	@bash bench/demo.sh

test: setup
	$(PY) -m pytest -q tests

unit: setup
	$(PY) -m pytest -q tests/unit

integration: setup
	$(PY) -m pytest -q tests/integration

lint: setup
	$(VENV)/bin/ruff check ocix tests bench proto $(filter-out %.py %.sh,$(wildcard bench/*))  # the scripts have no .py
	$(VENV)/bin/mypy

# Each benchmark starts its own lab when CONTAINERD_ADDRESS is not set, and prints its ratios.
bench: setup
	@for b in bench/startup bench/validate bench/run bench/pull bench/layers bench/compare bench/report; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf ocix/_api build .pytest_cache .mypy_cache .ruff_cache
