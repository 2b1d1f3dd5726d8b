"""Plausible wrong answers for every exercise, and the probe that proves each lesson's tests catch them.

One file per lesson (``04_lora.py``) holds ``WRONG_ANSWERS = {answer_grade_id: [Wrong(...), ...]}``: at least
three mistakes a student could plausibly make in each answer cell, written as text replacements in the
solution's answer. ``tests/test_lessons.py`` runs each lesson's solution once under the tiny profile and, right
after an exercise's test cells have passed, swaps in each wrong answer in the same kernel, runs the exercise's
test cells, and puts the right answer back. A wrong answer must fail the full tests; one marked ``visible`` must
fail the visible tests (the mistake is one the visible tests teach), which then fail the full tests too.
"""

from __future__ import annotations

import json
import re
import runpy
from dataclasses import dataclass
from pathlib import Path

HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


@dataclass(frozen=True)
class Wrong:
    """A mistake in a student's words, as ``(text in the solution's answer, what the student wrote instead)`` pairs."""

    why: str
    replace: tuple[tuple[str, str], ...]
    visible: bool = False

    def apply(self, answer: str) -> str:
        for old, new in self.replace:
            if answer.count(old) != 1:
                raise ValueError(f"wrong answer {self.why!r}: {old!r} occurs {answer.count(old)} times in the answer")
            answer = answer.replace(old, new)
        return answer


def wrong(why: str, *replace: tuple[str, str], visible: bool = False) -> Wrong:
    return Wrong(why, tuple(replace), visible)


# An object that passes any comparison (==, <, `abs(x - y) < tol`) and any attribute or item look-up: what a student
# who returns "something that equals the answer" hands in. Tests must check types where a number, tensor, list or
# string is expected; each exercise compared with == has a lookalike() among its wrong answers.
RIGGED = ('type("Rigged", (), {**{f"__{op}__": (lambda s, *a, **k: s) for op in ("abs", "neg", "add", "radd", "sub", '
          '"rsub", "mul", "rmul", "truediv", "rtruediv", "round", "getitem", "getattr", "call")}, '
          '"__eq__": lambda s, o: True, "__ne__": lambda s, o: False, "__hash__": lambda s: 0, "__bool__": lambda s: True, '
          '**{f"__{op}__": lambda s, o: True for op in ("lt", "le", "gt", "ge")}, "__format__": lambda s, spec: "rigged", '
          '"__repr__": lambda s: "rigged"})()')


def lookalike(*replace: tuple[str, str]) -> Wrong:
    """A return value made of :data:`RIGGED` objects in the answer's shape (``RIGGED`` in the new text stands for one):
    the visible tests must see that it is not the type they expect."""
    return Wrong("returns lookalikes that compare equal to anything, not the expected type",
                 tuple((old, new.replace("RIGGED", f"({RIGGED})")) for old, new in replace), visible=True)


def catalogue(lesson: str) -> dict[str, list[Wrong]]:
    """The lesson's wrong answers by answer cell (empty if the lesson has no file yet)."""
    path = Path(__file__).with_name(f"{lesson}.py")
    return runpy.run_path(str(path))["WRONG_ANSWERS"] if path.exists() else {}


def visible_part(test: str) -> str:
    """A test cell without its hidden block: what the student sees."""
    return HIDDEN_BLOCK.sub("", test)


_PROBE = '''
def __course_probe__(grade_id, answer, wrongs, tests, path):
    """Run each wrong answer against the exercise's tests (visible, then full); put the right answer back."""
    import json
    from IPython import get_ipython
    from IPython.utils.capture import capture_output
    shell, rows = get_ipython(), []
    def runs(source):  # exec, not run_cell: a nested cell's traceback would mark this cell as failed
        try:
            with capture_output():
                exec(compile(shell.transform_cell(source), "<probe>", "exec"), shell.user_ns)
            return True
        except Exception:
            return False
    fails = lambda sources: not all(runs(s) for s in sources)
    for why, source, visible in wrongs:
        answer_failed = not runs(source)
        seen = fails([v for v, _ in tests]) if visible else None  # asked only of the mistakes the visible tests teach
        caught = seen or fails([t for _, t in tests])  # a test cell runs its visible lines too: seen means caught
        rows.append({"grade_id": grade_id, "why": why, "must_be_visible": visible, "answer_failed": answer_failed,
                     "visible": seen, "full": caught})
    restored = runs(answer) and not fails([t for _, t in tests])
    with open(path, "a") as out:
        out.writelines(json.dumps(row) + "\\n" for row in rows + [{"grade_id": grade_id, "restored": restored}])
'''


def add_probes(nb: dict, lesson: str, path: Path) -> dict:
    """The solution notebook with a probe cell after each exercise's last test cell; results go to ``path``."""
    wrongs = catalogue(lesson)
    cells, out, answer = nb["cells"], [], None
    meta = lambda c: c["metadata"].get("nbgrader", {})  # noqa: E731
    source = lambda c: "".join(c["source"]) if isinstance(c["source"], list) else c["source"]  # noqa: E731
    code = lambda text: {"cell_type": "code", "id": f"probe-{len(out)}", "metadata": {}, "execution_count": None,  # noqa: E731
                         "outputs": [], "source": text}
    for i, cell in enumerate(cells):
        out.append(cell)
        if "parameters" in cell["metadata"].get("tags", []):
            out.append(code(_PROBE))
        if meta(cell).get("solution"):
            answer, tests = cell, []
        elif meta(cell).get("grade") and answer is not None:
            tests.append((visible_part(source(cell)), source(cell)))
            nxt = next((c for c in cells[i + 1:] if meta(c).get("grade") or meta(c).get("solution")), None)
            if nxt is None or not meta(nxt).get("grade"):
                grade_id = meta(answer)["grade_id"]
                variants = [(w.why, w.apply(source(answer)), w.visible) for w in wrongs.get(grade_id, [])]
                out.append(code(f"__course_probe__({grade_id!r}, {source(answer)!r}, {variants!r}, {tests!r}, "
                                f"{str(path)!r})"))
                answer = None
    return {**nb, "cells": out}


def probe_results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_probed(root: Path, lesson: str, scratch: Path) -> tuple[dict, list[dict]]:
    """Run the lesson's solution under tiny with its wrong answers probed; (the runner's row, the probe results)."""
    from course_utils.layout import solution_notebook
    from course_utils.tools.runner import run_lesson

    solution, results = solution_notebook(root, lesson), scratch / "probes.jsonl"
    probed = scratch / "probed" / solution.name
    probed.parent.mkdir(parents=True)
    probed.write_text(json.dumps(add_probes(json.loads(solution.read_text()), lesson, results)))
    row = run_lesson(probed, scratch / solution.name, "tiny", cwd=solution.parent)
    return row, probe_results(results)
