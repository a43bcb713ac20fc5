# The two commands of the README.  Both set up .venv first (idempotent), so they work on a
# fresh machine.  .ci/run calls `make test`.
.PHONY: run test monkey setup

run: setup
	.venv/bin/enrol kiosk --sim

test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

# The kiosk's long random UI run (not part of `make test`, which sends 600 events): the monkey of
# tests/kiosk/ui/monkey.py, MONKEY_EVENTS events (5000 unless set).
monkey: setup
	MONKEY_EVENTS=$${MONKEY_EVENTS:-5000} .venv/bin/python -m pytest -s tests/kiosk/ui/test_monkey.py -k random

setup:
	bash scripts/setup.sh
