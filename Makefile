# Every target creates the virtual environment and installs what it needs by itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: test test-asgi-oldest lint demo demo-django demo-fastapi bench chromium redis clean docs docs-check

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,demo]'
	touch $@

# Playwright's own Chromium when installed, else the system one; as root on Debian, install it.
chromium: $(BIN)/.installed
	@$(BIN)/python -m pixel_embed.browser.chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "No Chromium found: installing Debian's chromium with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  fi; }
	@$(BIN)/python -m pixel_embed.browser.chromium

# Debian's redis-server for the Celery/RQ tests (they start it on a free local port themselves).
redis:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "No redis-server found: installing Debian's redis-server with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  fi; }
	@command -v redis-server >/dev/null || echo "redis-server is missing: the Celery/RQ tests will be skipped"

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint docs-check chromium redis
	$(BIN)/pytest

# The documentation site (Sphinx + MyST Markdown) in docs/_build/html. make test builds it with
# warnings as errors; tests/test_docs.py runs every ```python example of its pages.
SPHINX := $(BIN)/sphinx-build -q -b html docs docs/_build/html

docs: $(BIN)/.installed
	$(SPHINX)
	@echo "docs/_build/html/index.html"

docs-check: $(BIN)/.installed
	$(SPHINX) -E -W --keep-going  # -E: read every page again, so no warning hides in a cache

demo: $(BIN)/.installed
	$(BIN)/python -m demo_site --host $(HOST) --port $(PORT)

# The Starlette integration's tests against the oldest versions pyproject.toml's extras allow,
# in a venv of their own (.venv-oldest).
ASGI_OLDEST := starlette==0.37.2 fastapi==0.112.0 uvicorn==0.30.0 httpx==0.27.0 \
	python-multipart==0.0.9 itsdangerous==2.1.2
test-asgi-oldest: chromium
	$(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/pip install --quiet -e '.[testing]' hypothesis $(ASGI_OLDEST)
	.venv-oldest/bin/pytest tests/test_asgi_*.py

# The same shop's journey on FastAPI and uvicorn (pixel_embed.integrations.starlette).
demo-fastapi: $(BIN)/.installed
	$(BIN)/python -m demo_fastapi --host $(HOST) --port $(PORT)
# The same shop on Django (demo_django/): migrates its SQLite file in the temporary folder first.
demo-django: $(BIN)/.installed
	$(BIN)/python -m demo_django --host $(HOST) --port $(PORT)

bench: $(BIN)/.installed chromium
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .venv-oldest .pytest_cache .mypy_cache .ruff_cache docs/_build
