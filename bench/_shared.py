"""What several benches share (not a bench itself: tests/bench skips ``bench/_*.py``)."""

from __future__ import annotations

import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType


def synthetic() -> ModuleType:
    """``tests/e2e/synthetic.py``, the synthetic records and hostile packets the tests use, loaded by path."""
    if "synthetic_enrolment" not in sys.modules:
        spec = spec_from_file_location("synthetic_enrolment",
                                       Path(__file__).parents[1] / "tests" / "e2e" / "synthetic.py")
        module = module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules["synthetic_enrolment"] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules["synthetic_enrolment"]
