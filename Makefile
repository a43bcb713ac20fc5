# The two commands of the README.  Both set up .venv first (idempotent), so they work on a
# fresh machine.  .ci/run calls `make test`.
.PHONY: run test monkey mutation setup

run: setup
	.venv/bin/enrol kiosk --sim

test: setup
	.venv/bin/ruff check .
	.venv/bin/python -m pytest

# The kiosk's long random UI run (not part of `make test`, which sends 600 events): the monkey of
# tests/kiosk/ui/monkey.py, MONKEY_EVENTS events (5000 unless set).
monkey: setup
	MONKEY_EVENTS=$${MONKEY_EVENTS:-5000} .venv/bin/python -m pytest -s tests/kiosk/ui/test_monkey.py -k random

# Mutation testing of the security checks ([tool.mutmut] in pyproject.toml; ~20 min), then the
# score per module and the surviving mutants (docs/mutation.md says why each survivor is harmless).
mutation: setup
	rm -rf mutants
	.venv/bin/mutmut run
	.venv/bin/python scripts/mutation_score.py

setup:
	bash scripts/setup.sh
