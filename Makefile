# The two commands of the README: `make run` and `make test`. The rest serve them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint bench install install-test messages clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,dev]'

run: install
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py migrate --noinput
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py load_demo
	@echo ""
	@echo "  The museum shop runs at  http://127.0.0.1:$(PORT)/"
	@echo "  Buy a ticket: pick an exhibition, a day, a time; pay with the demo provider (no money moves)."
	@echo "  Museum card:   http://127.0.0.1:$(PORT)/card/   (buy, gift; the holder's page shows visits and renewal)"
	@echo "  My account:    http://127.0.0.1:$(PORT)/account/   (optional: sign up under Sign in; guests never need one)"
	@echo "  Staff admin:   http://127.0.0.1:$(PORT)/admin/   (front desk: Today, Sell at the desk)"
	@echo "  Check-in:      http://127.0.0.1:$(PORT)/check-in/   (tickets and museum cards)"
	@echo "  Demo staff:    admin@museum.example / desk@museum.example / manager@museum.example"
	@echo "                 password: museum-demo-2026"
	@echo "  Staff sign in with two factors: at the first sign-in, set up an authenticator app (TOTP)"
	@echo "                 by scanning the QR code shown, then type its 6-digit code (README: Two-factor sign-in)."
	@echo "  E-mails (with the PDF tickets and cards, and sign-up verification links) are printed in this terminal."
	@echo ""
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/djlint templates --lint --quiet
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py makemigrations --check --dry-run
	env -u DATABASE_URL -u REDIS_URL $(BIN)/mypy museum ticketing accounts newsletter privacy refunds

bench: install-test
	$(BIN)/python bench/run.py

messages: install-test
	$(BIN)/python manage.py makemessages -l fr -l nl -l fi -l sv --ignore=.venv --ignore=tests --ignore=bench
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
