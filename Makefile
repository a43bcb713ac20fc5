# The two commands of the README.  Both set up .venv first (idempotent), so they work on a
# fresh machine.  .ci/run calls `make test`.
.PHONY: run test monkey setup

run: setup
	.venv/bin/enrol kiosk --sim

test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

# The kiosk's long UI runs (not part of `make test`): every widget of every screen touched, and a
# long random run of the monkey (tests/kiosk/ui/monkey.py).
monkey: setup
	KIOSK_TOUCH_EVERY=1 MONKEY_EVENTS=$${MONKEY_EVENTS:-5000} .venv/bin/python -m pytest -s tests/kiosk/ui/test_monkey.py

setup:
	bash scripts/setup.sh
