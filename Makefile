# Two commands for a newcomer: `make run` (demo on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install console console-dev run test test-sqlite test-services bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## The web console: `npm ci` (when console/package-lock.json changed) and `npm run build` into
## console/dist (when anything under console/ changed), with the Node that pip put into .venv.
console: install
	@scripts/console.sh build

## Vite's dev server for work on the console; it proxies the API to the service of `make run`.
console-dev: install
	@scripts/console.sh dev

## Migrate, seed demo data, start simulator + web + worker on localhost, print the URLs.
run: install console
	@scripts/run-demo.sh

## The whole suite on SQLite + in-process Redis, then on PostgreSQL + Redis.
test: install console
	@scripts/test.sh

bench: install
	$(BIN)/python bench/callback.py

clean:
	rm -rf $(VENV) instance .pytest_cache console/node_modules console/dist test-artifacts
