# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run serve test lint format install js browser redis bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# requirements.txt installs the app editable with every extra (`-e .[all]`).
$(STAMP): $(PY) requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# The LangGraph JS SDK for tests/django/protocol/test_js_sdk.py, when Node.js is there
# (without node that test skips with its reason).
JS_STAMP := tests/js/node_modules/.installed
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)
# @langchain/react, React and esbuild for tests/browser/test_react_usestream.py's page.
REACT_STAMP := tests/browser/react/node_modules/.installed
$(REACT_STAMP): tests/browser/react/package.json tests/browser/react/package-lock.json
	cd tests/browser/react && npm ci --no-audit --no-fund --loglevel=error
	touch $(REACT_STAMP)

js:
	@if command -v node >/dev/null && command -v npm >/dev/null; then $(MAKE) $(JS_STAMP) $(REACT_STAMP); \
	else echo "node/npm not found: the JS SDK test will skip"; fi

# The web server (ASGI: uvicorn, one process per core unless WORKERS says) and one
# background worker (django-tasks-db's queue in the same SQLite file); Ctrl-C stops both.
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py yamlgraph sync
	$(PY) manage.py ensure_demo_superuser --url http://127.0.0.1:$${PORT:-8000}/admin/
	@trap 'kill 0' INT TERM EXIT; \
	$(PY) manage.py yamlgraph worker & \
	$(PY) -m uvicorn project.asgi:application --host 127.0.0.1 --port $${PORT:-8000} \
		--workers $${WORKERS:-$$(nproc)} & \
	wait

# Production-style: gunicorn with 4 sync workers (set DATABASE_URL, DJANGO_DEBUG=0,
# DJANGO_SECRET_KEY and YAMLGRAPH_CHECKPOINTER_URL for a real deployment).
serve: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py yamlgraph sync
	$(PY) -m gunicorn project.wsgi --workers $${WORKERS:-4} --bind $${BIND:-127.0.0.1:8000}

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The browser tests (pytest -m browser) drive Debian's Chromium at /usr/bin/chromium.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

test: lint js browser
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

redis: $(STAMP)
	$(PY) -m tests.servers redis

# Every benchmark, each part timed (bench/__main__.py); QUICK=1 for a short run,
# BENCH_SAVERS=sqlite,redis,postgres to choose the checkpoint savers.
bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .venv312 .venv313 .pytest_cache tests/js/node_modules
