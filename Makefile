# Two commands: `make run` (site + scheduler with demo content) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev messages browser lint check migrate seed scheduler \
        bench-pages bench-send bench-import bench-web bench-redis-outage screenshots clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.deps-run: requirements.txt constraints.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.deps-dev: requirements.txt requirements-dev.txt constraints.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@ $(VENV)/.deps-run

# The translations: locale/*.po (committed) compiled into .mo files (not committed).
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
$(MO_FILES): %.mo: %.po | $(VENV)/.deps-run
	@scripts/ensure-gettext.sh
	$(PY) manage.py compilemessages --ignore=.venv -v0

install: $(VENV)/.deps-run $(MO_FILES)
install-dev: $(VENV)/.deps-dev $(MO_FILES)
messages: install-dev
	$(PY) manage.py makemessages -l ru --ignore=.venv --ignore=staticfiles --ignore=var --no-obsolete

## run: install, migrate, seed demo content once, serve on http://$(HOST):$(PORT) with the scheduler beside it
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty
	@echo "Site: http://$(HOST):$(PORT)/  (demo accounts are listed in README.md; mail is written to var/mail/)"
	@LOG_FILE=var/log/scheduler.log $(PY) manage.py run_scheduler & scheduler=$$!; \
	  trap 'kill $$scheduler 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver $(HOST):$(PORT)

## test: install, make sure a browser is there, run the whole suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)
test: install-dev browser
	$(PY) -m pytest $(PYTEST_ARGS)

browser:
	@scripts/ensure-chromium.sh

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

scheduler: install
	$(PY) manage.py run_scheduler

## Benchmarks: commands that print figures (they need PostgreSQL; see README)
BENCH_PAGES_DB := postgres://postgres@127.0.0.1:5432/campaigns_bench_pages
bench-pages: install-dev
	@psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'campaigns_bench_pages'" | grep -q 1 \
	  || createdb -h 127.0.0.1 -U postgres campaigns_bench_pages
	DATABASE_URL=$(BENCH_PAGES_DB) $(PY) manage.py migrate --noinput -v0
	DEBUG=false LOG_LEVEL=WARNING DATABASE_URL=$(BENCH_PAGES_DB) $(PY) manage.py bench_pages $(BENCH_ARGS)

BENCH_SEND_DB := postgres://postgres@127.0.0.1:5432/campaigns_bench_send
bench-send: install-dev
	@scripts/ensure-smtp-sink.sh
	@# A new database each time: figures do not depend on what earlier runs left behind.
	@dropdb -h 127.0.0.1 -U postgres --if-exists campaigns_bench_send
	@createdb -h 127.0.0.1 -U postgres campaigns_bench_send
	DATABASE_URL=$(BENCH_SEND_DB) $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=$(BENCH_SEND_DB) $(PY) manage.py bench_send $(BENCH_ARGS)

BENCH_IMPORT_DB := postgres://postgres@127.0.0.1:5432/campaigns_bench_import
## bench-import: rows/s of the CSV import of 100,000 recipients (preview and import) and peak RSS
bench-import: install-dev
	@psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'campaigns_bench_import'" | grep -q 1 \
	  || createdb -h 127.0.0.1 -U postgres campaigns_bench_import
	DATABASE_URL=$(BENCH_IMPORT_DB) $(PY) manage.py migrate --noinput -v0
	DEBUG=false LOG_LEVEL=WARNING DATABASE_URL=$(BENCH_IMPORT_DB) $(PY) manage.py bench_import $(BENCH_ARGS)

bench-web: install-dev
	scripts/bench-web.sh

## Sign-in times with Redis up, stopped and not answering (a private redis-server; rolled back)
bench-redis-outage: install-dev
	$(PY) manage.py migrate --noinput -v0
	LOG_LEVEL=WARNING $(PY) manage.py bench_redis_outage $(BENCH_ARGS)

screenshots: install-dev browser
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache
