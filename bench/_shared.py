"""What several benches share (not a bench itself: tests/bench skips ``bench/_*.py``)."""

from __future__ import annotations

import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType


def synthetic() -> ModuleType:
    """``tests/e2e/synthetic.py``, the synthetic records and hostile packets the tests use, loaded by path."""
    return _test_module("synthetic_enrolment", "synthetic.py")


def kill_runs() -> ModuleType:
    """``tests/e2e/kill_runs.py``, the SIGKILL harness the crash test runs a bounded number of times."""
    return _test_module("kill_runs", "kill_runs.py")


def _test_module(name: str, file: str) -> ModuleType:
    if name not in sys.modules:
        spec = spec_from_file_location(name, Path(__file__).parents[1] / "tests" / "e2e" / file)
        module = module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]
