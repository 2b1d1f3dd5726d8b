"""course_utils never holds an exercise's answer: a student could import it instead of writing it.

Each answer (the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) is compared with every module of the
package line by line, after blanking the names the code chose (variables, functions, arguments) and its strings, so
a copy with renamed variables is found too. What is left to match is the code's shape: keywords, builtins,
attribute and method names, operators and literals.
"""

from __future__ import annotations

import builtins
import json
import keyword
import re

import pytest

from conftest import LESSONS, ROOT
from course_utils.layout import solution_notebook

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION", re.S | re.M)
STRING = re.compile(r"[rbuf]*(\"\"\"|'''|\"|')(?:\\.|(?!\1).)*\1", re.S)
NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
KEPT = set(keyword.kwlist) | set(dir(builtins))
MIN_LINE = 48  # shaped characters: a shorter line (``for _, _ in _.named_parameters():``) is too common to mean anything alone


def code_shape(line: str) -> str:
    """A line of code with its strings, comments and chosen names blanked."""
    line = STRING.sub("S", line).split("#")[0].strip()
    return NAME.sub(lambda m: m.group(0) if m.group(0) in KEPT else "_", line)


def shaped_lines(code: str) -> list[str]:
    return [shape for shape in map(code_shape, code.splitlines()) if shape]


def answers(lesson: str) -> dict[str, list[str]]:
    """Each answer cell's shaped solution lines, by grade id."""
    notebook = json.loads(solution_notebook(ROOT, lesson).read_text())
    found = {}
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            found[meta["grade_id"]] = shaped_lines("\n".join(SOLUTION.findall("".join(cell["source"]))))
    return found


def copies(answer: list[str], module: list[str]) -> list[str]:
    """Lines of ``answer`` found in ``module``: a long line on its own, or two consecutive lines in the same order."""
    lines, pairs = set(module), set(zip(module, module[1:]))
    hits = [line for line in answer if len(line) >= MIN_LINE and line in lines]
    hits += [f"{a} / {b}" for a, b in zip(answer, answer[1:]) if (a, b) in pairs and len(a + b) >= MIN_LINE]
    return hits


PACKAGE = {path.relative_to(ROOT).as_posix(): shaped_lines(path.read_text())
           for path in sorted((ROOT / "course_utils").rglob("*.py"))}


@pytest.mark.parametrize("lesson", LESSONS)
def test_no_answer_is_in_course_utils(lesson):
    found = {f"{grade_id} in {module}": hits for grade_id, answer in answers(lesson).items()
             for module, lines in PACKAGE.items() if (hits := copies(answer, lines))}
    assert not found, f"answers of {lesson} found in the package (students could import them): {found}"


def test_a_renamed_copy_of_an_answer_is_found():
    answer = shaped_lines("params = list(model.parameters())\n"
                          "return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)")
    renamed = shaped_lines("def count(m):\n    weights = [*m.parameters()]  # same thing\n"
                           "    return sum(w.numel() for w in weights if w.requires_grad), sum(w.numel() for w in weights)")
    assert copies(answer, renamed), "a copy with other variable names must still be found"
    assert not copies(answer, shaped_lines("return model.num_parameters(only_trainable=True), model.num_parameters()"))
