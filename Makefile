# Terceiriza CS — `make run` starts the app, `make test` runs the tests (both set up .venv).
PYTHON ?= python3
BENCH_SCALE ?= L
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.instalado-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: run test test-long lint format install bench

install: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.instalado-* && touch $@

run: $(STAMP)
	$(VENV)/bin/streamlit run app.py --server.port 8501

test: $(STAMP)
	$(PY) -m pytest -q -m "not longo"

test-long: $(STAMP)
	$(PY) -m pytest -q -m "longo"

# Scale benchmark (issue #7): fresh embedded PostgreSQL, profile L (or BENCH_SCALE=small).
bench: $(STAMP)
	$(PY) -m bench --escala $(BENCH_SCALE)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
