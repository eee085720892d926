VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	cd config && ../$(VENV)/bin/clockd serve -c demo.toml

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check clocks scheduler tests benchmarks
	$(VENV)/bin/ruff format --check clocks scheduler tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

bench: $(VENV)/.installed-test
	$(PY) benchmarks/next_fires.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
