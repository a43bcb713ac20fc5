"""Every bench in ``bench/`` runs, in its quick ``--smoke`` mode, as its docstring says it is run.

The benches print figures rather than pass or fail, so nothing else would notice one that no longer
starts (a renamed module, a changed configuration file).  Each ``bench/*.py`` is found by globbing,
so a new bench is covered without touching this file; it must accept ``--smoke``, exit 0 and print.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
BENCHES = sorted(path for path in BENCH.glob("*.py") if not path.name.startswith("_"))  # _*.py: shared code
TIMEOUT_S = 300


def _top_level_packages() -> set[str]:
    """The repository's own top-level packages: the folders at its root with an ``__init__.py``."""
    return {init.parent.name for init in ROOT.glob("*/__init__.py")}


def _bench_env() -> dict[str, str]:
    """The caller's environment as a shell would give it, without a display or another test's Kivy settings.

    With no ``DISPLAY`` the Kivy bench runs itself under ``xvfb-run``, as documented, whatever display
    the test process happens to have (the kiosk UI tests start an Xvfb of their own).
    """
    return {name: value for name, value in os.environ.items()
            if name not in ("DISPLAY", "WAYLAND_DISPLAY") and not name.startswith("KIVY_")}


def test_benches_are_found():
    assert BENCHES, f"no bench found in {BENCH}"


def test_no_bench_is_named_like_a_package():
    """``python bench/X.py`` puts ``bench/`` first on the import path: a bench named like one of our
    packages (``bench/kiosk.py``) would be imported in place of the package."""
    packages = _top_level_packages()
    assert {"drivers", "capture", "packet", "crypto", "station", "kiosk", "enrol", "receiver",
            "hardware_sim"} <= packages
    shadowing = sorted(entry.name for entry in BENCH.iterdir()
                       if entry.name != "__pycache__" and entry.name.partition(".")[0] in packages)
    assert not shadowing, f"bench/ entries named like a top-level package {sorted(packages)}: {shadowing}"


@pytest.mark.parametrize("script", BENCHES, ids=[script.stem for script in BENCHES])
def test_bench_docstring_gives_its_command_line(script: Path):
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    command = f".venv/bin/python bench/{script.name} [--smoke]"
    assert command in docstring, f"{script.name}'s docstring does not say how it is run ({command})"


@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.parametrize("script", BENCHES, ids=[script.stem for script in BENCHES])
def test_bench_smoke(script: Path):
    command = [sys.executable, str(script.relative_to(ROOT)), "--smoke"]
    # A session of its own, so that a bench that hangs is stopped with everything it started
    # (the receiver process, xvfb-run's Xvfb, the Kivy child).
    process = subprocess.Popen(command, cwd=ROOT, env=_bench_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command)} did not finish in {TIMEOUT_S} s\n"
                    f"--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-5000:]}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, (f"{' '.join(command)} exited with status {process.returncode}\n"
                                     f"--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-5000:]}")
    assert stdout.strip(), f"{' '.join(command)} printed nothing\n--- stderr ---\n{stderr[-5000:]}"
