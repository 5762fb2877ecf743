# OneMap: `make run` serves the demo city on http://127.0.0.1:8000; `make test` runs the whole suite.
# Both install what is missing first (system packages, .venv) and are quick when everything is there.
SHELL := /bin/bash
VENV  ?= .venv
PORT  ?= 8000
# `make run`: the demo city's sensors report through the private MQTT broker (`make run SIMULATE=0`: quiet)
SIMULATE ?= 1
export PORT

.PHONY: run test system system-test venv demo lint bench clean distclean vendor vendor-check

run: system venv
	$(VENV)/bin/onemap config check
	$(VENV)/bin/onemap demo build --if-missing
	ONEMAP_MQTT_SIMULATE=$(SIMULATE) $(VENV)/bin/onemap serve --port $(PORT)

test: system-test venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

system:
ifndef SKIP_SYSTEM_INSTALL
	scripts/install-system.sh
endif

system-test:
ifndef SKIP_SYSTEM_INSTALL
	scripts/install-system.sh --test
endif

venv: $(VENV)/.installed

# Rebuilt when the package metadata changes; a venv made by another Python is replaced.
$(VENV)/.installed: setup.cfg pyproject.toml scripts/find-python.sh
	@py=$$(scripts/find-python.sh) || exit 1; \
	if [ -x $(VENV)/bin/python ] && ! $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  rm -rf $(VENV); fi; \
	[ -x $(VENV)/bin/python ] || "$$py" -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

demo: system venv
	$(VENV)/bin/onemap demo build

lint: venv
	$(VENV)/bin/ruff check .

clean:
	-$(VENV)/bin/onemap db down
	rm -rf var/cache var/generated

distclean: clean
	rm -rf var $(VENV)

# Front-end libraries are committed under app/static/vendor; these need the npm registry (build time only).
vendor:
	scripts/vendor-assets.sh

vendor-check:
	scripts/vendor-assets.sh --check
