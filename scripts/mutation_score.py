"""Print the mutation score of the last ``mutmut run`` per module, and list the mutants that survived.

mutmut keeps each mutant's result in ``mutants/<module>.py.meta`` (its exit code: 1 or 3 killed,
0 survived, 36/24/-24/152/255 timed out, 33/5 no test reached it).  The score is killed (timeouts
count as killed: the mutant made the tests hang) over every mutant checked.  `make mutation` runs
this after mutmut; docs/mutation.md says why each listed survivor is harmless.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

KILLED = {1, 3}
TIMEOUT = {24, -24, 36, 152, 255}
SURVIVED = {0}


def main(root: Path = Path("mutants")) -> int:
    metas = sorted(root.rglob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `make mutation`", file=sys.stderr)
        return 1
    total_killed = total_checked = 0
    survivors: list[str] = []
    for meta in metas:
        module = meta.relative_to(root).as_posix().removesuffix(".py.meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        killed = sum(code in KILLED or code in TIMEOUT for code in codes.values())
        checked = sum(code is not None for code in codes.values())
        survivors += sorted(name for name, code in codes.items() if code in SURVIVED)
        untested = sum(code in (5, 33) for code in codes.values())
        total_killed, total_checked = total_killed + killed, total_checked + checked
        score = 100 * killed / checked if checked else float("nan")
        print(f"{module:28s} {killed:5d} / {checked:5d} killed  {score:5.1f} %"
              + (f"  ({untested} reached by no test)" if untested else ""))
    print(f"{'all':28s} {total_killed:5d} / {total_checked:5d} killed  {100 * total_killed / total_checked:5.1f} %")
    if survivors:
        wording = {name: diff for name, diff in ((name, _diff(name)) for name in survivors)}
        logic = {name: diff for name, diff in wording.items() if not _only_wording(diff)}
        print(f"\n{len(survivors)} surviving mutants; {len(survivors) - len(logic)} change only the wording of a "
              f"message or a log line; the {len(logic)} others (mutmut show NAME):")
        for name, diff in logic.items():
            print(f"  {name}: {' | '.join(new for _old, new in diff)}")
        killed_or_wording = total_killed + len(survivors) - len(logic)
        print(f"score counting wording-only survivors as harmless: {100 * killed_or_wording / total_checked:.1f} %")
    return 0


def _diff(name: str) -> list[tuple[str, str]]:
    """The changed lines of one mutant (``mutmut show``): (original, mutated) pairs."""
    shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], capture_output=True, text=True,
                           check=False).stdout.splitlines()
    removed = [line[1:].strip() for line in shown if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in shown if line.startswith("+") and not line.startswith("+++")]
    return list(zip(removed, added, strict=False))


def _only_wording(diff: list[tuple[str, str]]) -> bool:
    """A mutant that only rewrites a message: mutmut's ``XX...XX`` or case-changed strings, an
    exception raised with None as its message, a changed log call.  The check still refuses."""
    def wording(old: str, new: str) -> bool:
        return (new.replace("XX", "").lower() == old.lower() or bool(re.search(r"raise \w+\(None\)", new))
                or (old.startswith("log.") and new.startswith("log.")))
    return bool(diff) and all(wording(old, new) for old, new in diff)

if __name__ == "__main__":
    sys.exit(main())
