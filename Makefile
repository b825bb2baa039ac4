# Two commands matter: `make demo` and `make test`. Both set everything up from a fresh Debian 12.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all venv system-deps test demo bench lint clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests run against (Dovecot, PostgreSQL, MariaDB); installs only when root
# and missing. The servers themselves are started privately by the test fixtures.
system-deps:
	scripts/install-system-deps

test: venv system-deps
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check src tests bench

demo: venv
	$(PY) scripts/demo.py

bench: venv system-deps
	$(PY) bench/backup_local.py
	$(PY) bench/queue.py

clean:
	rm -rf $(VENV) demo-out bench-out
