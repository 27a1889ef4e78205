# FanOps: `make run` serves a demo brand on http://127.0.0.1:8000, `make test` runs every test.
# Python 3.11 (pyproject's requires-python); falls back to python3 when no python3.11 is on PATH.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || echo python3)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_ARGS ?= --stores 6 --customers 3000 --orders 20000 --seed 7

.PHONY: run test install lint format demo messages screenshots bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstalls only when pyproject.toml changed (the stamp file is newer otherwise).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo $(DEMO_ARGS) --if-empty
	$(BIN)/python manage.py relabel

run: demo
	@echo "FanOps on http://127.0.0.1:8000/  (admin: /admin/, API docs: /api/v1/docs/)"
	@echo "Demo logins, password fanops-demo: s001.g1 (guide), s001.mgr (store manager), hq (headquarters)"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# Tests run with DEBUG on unless told otherwise (also with DATABASE_URL set): the HTTPS redirect
# and hashed static files of production settings are `check --deploy`'s business.
test: install
	DEBUG=$${DEBUG:-1} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the layers contract of pyproject.toml

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

messages: install
	$(BIN)/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=staticfiles
	$(BIN)/python manage.py compilemessages --ignore=.venv

screenshots: install
	$(BIN)/python tests/web/screenshots.py --fresh

clean:
	rm -rf $(VENV) fanops.sqlite3* staticfiles
