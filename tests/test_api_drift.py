"""API drift: every keyword the lessons and course_utils pass to a library call still exists in that library.

transformers, peft and trl rename arguments often (``evaluation_strategy`` -> ``eval_strategy``,
``tokenizer`` -> ``processing_class``); a renamed keyword then breaks a student's notebook at run time.
This reads the code (no execution), resolves each call to an imported library object and checks its
keywords against ``inspect.signature``. Calls whose target accepts ``**kwargs`` cannot be checked this
way and are skipped; the papermill runs catch those.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import LESSONS, ROOT
from course_utils.layout import solution_notebook

LIBRARIES = ("transformers", "peft", "trl", "bitsandbytes", "datasets")


@dataclass(frozen=True)
class Call:
    where: str      # "solutions/04_lora/04_lora.ipynb, cell 12" or "course_utils/training.py"
    line: int
    target: str     # dotted path of the library object, e.g. "peft.LoraConfig"
    keywords: tuple[str, ...]


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local names bound to library objects by the file's imports (at any depth)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in LIBRARIES:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value, names)):
        return f"{base}.{node.attr}"
    return None


def library_calls(code: str, where: str, names: dict[str, str] | None = None) -> list[Call]:
    """Every call in ``code`` whose function is reached through an import of LIBRARIES (``names``: from elsewhere)."""
    tree = ast.parse(code)
    names = _aliases(tree) if names is None else names
    return [Call(where, node.lineno, target, tuple(k.arg for k in node.keywords if k.arg))
            for node in ast.walk(tree) if isinstance(node, ast.Call) and (target := _dotted(node.func, names))]


def resolve(target: str):
    """The object at a dotted path: the longest importable module prefix, then attributes."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(target)


def unknown_keywords(call: Call) -> list[str] | None:
    """Keywords the installed library does not accept; None if the target takes ``**kwargs`` (unverifiable)."""
    try:
        params = inspect.signature(resolve(call.target)).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    accepted = {p.name for p in params}
    return [k for k in call.keywords if k not in accepted]


def _code_cells(path: Path) -> list[tuple[int, str]]:
    """Code cells with IPython lines (``!pip``, ``%magic``) turned into ``pass`` so that ``ast`` can parse them."""
    def python(line: str) -> str:
        stripped = line.lstrip()
        return line[:len(line) - len(stripped)] + "pass" if stripped.startswith(("!", "%")) else line

    cells = json.loads(path.read_text())["cells"]
    return [(i, "\n".join(map(python, "".join(c["source"]).splitlines())))
            for i, c in enumerate(cells) if c["cell_type"] == "code"]


def course_calls() -> list[Call]:
    """The library calls of every solution notebook (imports carry across cells) and of course_utils."""
    calls = []
    for lesson in LESSONS:
        path = solution_notebook(ROOT, lesson)
        cells = _code_cells(path)
        names = _aliases(ast.parse("\n".join(code for _, code in cells)))
        calls += [call for index, code in cells for call in library_calls(code, f"{path.relative_to(ROOT)}, cell {index}", names)]
    for module in sorted((ROOT / "course_utils").rglob("*.py")):
        calls += library_calls(module.read_text(), str(module.relative_to(ROOT)))
    return calls


def _problems(calls: list[Call]) -> list[str]:
    problems = []
    for call in calls:
        library = call.target.split(".")[0]
        version = importlib.metadata.version(library)
        if bad := unknown_keywords(call):
            problems.append(f"{call.where}, line {call.line}: {call.target}(...) is passed {', '.join(bad)}, "
                            f"which {library} {version} does not accept")
    return problems


def test_every_keyword_passed_to_a_library_still_exists():
    calls = course_calls()
    checked = {c.target for c in calls if c.keywords and unknown_keywords(c) is not None}
    # The calls whose renames have broken notebooks before must be among those checked, or this test checks nothing.
    assert {"peft.LoraConfig", "transformers.TrainingArguments", "peft.PrefixTuningConfig"} <= checked, sorted(checked)
    problems = _problems(calls)
    assert not problems, "\n".join(problems)


def test_a_misspelt_keyword_is_caught():
    code = "from peft import LoraConfig\nimport transformers as tf\n" \
           "LoraConfig(r=8, lora_alhpa=16)\ntf.TrainingArguments(output_dir='x', evaluation_strategy='epoch')\n"
    problems = _problems(library_calls(code, "example.ipynb"))
    assert len(problems) == 2, problems
    assert "example.ipynb, line 3: peft.LoraConfig(...) is passed lora_alhpa" in problems[0]
    assert "transformers.TrainingArguments(...) is passed evaluation_strategy" in problems[1]


@pytest.mark.parametrize("code", ["import torch\ntorch.zeros(3, dtype=torch.float32)\n", "print(len([1]))\n"])
def test_calls_outside_the_libraries_are_not_checked(code):
    assert library_calls(code, "x") == []
