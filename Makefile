# Two commands: `make run` and `make test`. Everything installs into .venv from requirements-dev.lock
# (= requirements.lock, the runtime pins the Docker image installs, + the test and dev tools).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist processes for `make test` (auto = one per CPU; PYTEST_WORKERS=0 runs in one process). On this 2-core
# machine CI's suite took 12 min 50 s with two workers; in one process it had done 17% after 12 minutes.
PYTEST_WORKERS ?= auto

.PHONY: run test venv migrate seed serve worker lint integration bench clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.lock requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_registry --sites 3 --patients 150 --seed 1
	$(BIN)/python manage.py pro_demo --per-site 5

serve:
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## make run: set up .venv, migrate SQLite, seed the demo registry, serve http://127.0.0.1:8000
run: seed
	@echo "Serving on http://$(HOST):$(PORT)/  (admin: /admin/, API: /api/v1/docs/)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## make test: set up .venv and run the whole pytest suite (SQLite unless DATABASE_URL is set)
test: venv
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

worker: venv
	$(BIN)/celery -A config worker --loglevel=INFO

## make messages: regenerate the Spanish catalogue of the patient's page (needs gettext: apt-get install gettext);
## the compiled .mo is committed, so running the registry never needs gettext
messages: venv
	$(BIN)/python manage.py makemessages -l es --ignore=.venv --ignore="tests/*" --no-location
	$(BIN)/python manage.py compilemessages -l es --ignore=.venv

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports  # layering contracts: pyproject.toml [tool.importlinter]

clean:
	rm -rf $(VENV) db.sqlite3 media .test-media staticfiles
