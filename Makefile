# Two commands for a newcomer: `make run` (demo on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: install run test test-sqlite test-services bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## Migrate, seed demo data, start simulator + web + worker on localhost, print the URLs.
run: install
	@scripts/run-demo.sh

## The whole suite on SQLite + in-process Redis, then on PostgreSQL + Redis.
test: install
	@scripts/test.sh

bench: install
	$(BIN)/python bench/callback.py

clean:
	rm -rf $(VENV) instance .pytest_cache
