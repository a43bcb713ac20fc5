"""ARCHITECTURE.md's import rules, checked on the source so that a violation fails CI.

Imports go down the layers only (``docs/architecture.md``): ``drivers`` imports no other product
package; ``crypto`` only the explained-error base ``drivers.errors``; ``capture`` ``drivers`` and
``crypto``; ``packet`` ``capture`` and below; ``station`` everything below it; ``kiosk`` ``station``
and below but never ``receiver``; ``receiver`` only ``packet`` and ``crypto``; ``enrol`` anything;
``hardware_sim`` none of ours (it is the other end of the wire, written independently).  And rule 1,
simulate at the wire: only the station's bring-up (``station/bringup.py``) and the command line
(``enrol/``) may start simulators; the session, the screens and the services never know.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
ALLOWED = {
    "drivers": {"drivers"},
    "crypto": {"crypto", "drivers.errors"},
    "capture": {"capture", "drivers", "crypto"},
    "packet": {"packet", "capture", "drivers"},
    "station": {"station", "packet", "capture", "crypto", "drivers", "hardware_sim"},
    "kiosk": {"kiosk", "station", "capture", "drivers"},
    "receiver": {"receiver", "packet", "crypto"},
    "enrol": {"enrol", "kiosk", "station", "receiver", "packet", "capture", "crypto", "drivers", "hardware_sim"},
    "hardware_sim": {"hardware_sim"},
}
MAY_START_SIMULATORS = ("station/bringup.py", "enrol/")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _allowed(module: str, allowed: set[str]) -> bool:
    """Whether ``module`` is one of ``allowed`` or inside one (``drivers.errors`` allows only that module)."""
    return any(module == name or module.startswith(name + ".") for name in allowed)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_go_down_the_layers(package):
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in ALLOWED and not _allowed(module, ALLOWED[package]):
                wrong.append(f"{relative}:{line} imports {module}")
            if top == "hardware_sim" and package != "hardware_sim" and not relative.startswith(MAY_START_SIMULATORS):
                wrong.append(f"{relative}:{line} imports {module}: only the bring-up may know of simulators")
    assert wrong == []


def test_every_top_level_package_has_rules():
    """A new top-level package must be given its place in the layers before it can land."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert packages == set(ALLOWED)


def test_the_checker_sees_imports(tmp_path):
    """A checker that finds nothing could pass for ever; it must see both import forms."""
    sample = tmp_path / "sample.py"
    sample.write_text("import kiosk.session\nfrom capture.record import EnrolmentRecord\nfrom . import x\n")
    assert _imports(sample) == [(1, "kiosk.session"), (2, "capture.record")]


def test_a_module_rule_does_not_admit_its_package():
    assert _allowed("drivers.errors", {"drivers.errors"})
    assert not _allowed("drivers.smartcard.base", {"drivers.errors"})
    assert not _allowed("driversx", {"drivers"})


def test_no_product_class_is_named_like_a_test():
    """pytest collects classes named ``Test...``; a product class so named is collected (and warned about)."""
    named = []
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    named.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert named == []
