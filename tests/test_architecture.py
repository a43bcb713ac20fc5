"""ARCHITECTURE.md's import rules, checked on the source so that a violation fails CI.

Imports go down the layers only: ``drivers`` imports no other product package; ``capture`` only
``drivers``; ``crypto`` none; ``receiver`` only ``crypto``; ``hardware_sim`` none (it is the other
end of the wire, written independently).  ``kiosk`` sits on top.  And rule 1, simulate at the
wire: only the station's bring-up (``kiosk/station.py``) and the command line's ``--sim`` modes
(``kiosk/commands/``) may start simulators; the session, the screens and the services never know.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
ALLOWED = {
    "drivers": {"drivers"},
    "capture": {"capture", "drivers"},
    "crypto": {"crypto"},
    "receiver": {"receiver", "crypto"},
    "hardware_sim": {"hardware_sim"},
    "kiosk": {"kiosk", "capture", "crypto", "drivers", "receiver", "hardware_sim"},
}
MAY_START_SIMULATORS = ("kiosk/station.py", "kiosk/commands/")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_go_down_the_layers(package):
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in ALLOWED and top not in ALLOWED[package]:
                wrong.append(f"{relative}:{line} imports {module}")
            if top == "hardware_sim" and package == "kiosk" and not relative.startswith(MAY_START_SIMULATORS):
                wrong.append(f"{relative}:{line} imports {module}: only the bring-up may know of simulators")
    assert wrong == []


def test_the_checker_sees_imports(tmp_path):
    """A checker that finds nothing could pass for ever; it must see both import forms."""
    sample = tmp_path / "sample.py"
    sample.write_text("import kiosk.session\nfrom capture.record import EnrolmentRecord\nfrom . import x\n")
    assert _imports(sample) == [(1, "kiosk.session"), (2, "capture.record")]
