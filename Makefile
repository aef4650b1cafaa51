# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint format run bench install system-packages postgres clean dist spamcheck

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need (PostgreSQL, Chromium, Dovecot for the bounce mailbox's
# IMAP test), installed only when absent.
system-packages:
	@missing=""; \
	command -v pg_ctlcluster >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/sbin/dovecot ] || missing="$$missing dovecot-imapd"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
		case "$$missing" in *postgresql*) \
			hba=$$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1); \
			$(SUDO) sed -i -E 's#^(host\s+all\s+all\s+(127.0.0.1/32|::1/128)\s+)\S+#\1trust#' $$hba;; \
		esac; \
	fi

# PostgreSQL on 127.0.0.1:5432 with trust auth and a `test` database, started when not running.
postgres: system-packages
	@if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		echo "starting PostgreSQL"; \
		ver=$$(ls /etc/postgresql | head -n 1); \
		$(SUDO) pg_ctlcluster --skip-systemctl-redirect $$ver main start; \
		for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 \
		|| $(SUDO) -u postgres psql -c "CREATE DATABASE test" >/dev/null

# The sample newsroom's latest week ends on 22 November 2026; the digest goes to the outbox.
DEMO_WEEK := 2026-11-22

demo: $(STAMP)
	$(BIN)/digest publish
	$(BIN)/digest subscribers import config/subscribers.example.csv
	$(BIN)/digest weekly --as-of $(DEMO_WEEK)
	$(BIN)/digest weekly --as-of $(DEMO_WEEK) --preview var/preview

test: $(STAMP) postgres
	$(BIN)/pytest

# Web and clock in one process on 127.0.0.1:8000, on the embedded defaults.
run: $(STAMP)
	$(BIN)/digest publish
	$(BIN)/digest run --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check digest tests bench
	$(BIN)/ruff format --check digest tests bench

format: $(STAMP)
	$(BIN)/ruff format digest tests bench
	$(BIN)/ruff check --fix digest tests bench

bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 && [ -x /usr/sbin/nginx ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light wrk; }
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/feeds.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/signin.py
	$(BIN)/python bench/articles.py
	$(BIN)/python bench/publish.py
	$(BIN)/python bench/serve.py

# SpamAssassin's local-tests verdict on every kind of mail (a manual check, not in `make test`).
spamcheck: $(STAMP)
	@command -v spamassassin >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq spamassassin; }
	$(BIN)/python bench/spamcheck.py

# The wheel and sdist into $(DIST)/, built with the project's own .venv (`build` is one of
# its test extras), so a fresh machine needs neither `build` nor pipx installed.
DIST ?= dist

dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .
	@echo "built: $$(ls $(DIST) | tr '\n' ' ')"
	@echo "install with: pip install $(DIST)/newsroom_digest-*.whl (into any virtualenv)"

clean:
	rm -rf var public outbox .pytest_cache
