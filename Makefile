# The two commands of the README.  Both set up .venv first (idempotent), so they work on a
# fresh machine.  .ci/run calls `make test`.
.PHONY: run test setup

run: setup
	.venv/bin/enrol kiosk --sim

test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

setup:
	bash scripts/setup.sh
