"""Split by audience: what students import stays light, and the instructors' tools stay out of the lessons.

``course_utils`` (what lessons import) needs the core dependencies only; ``course_utils.tools`` (bootstrap, runner,
grading, benchmarks) needs the ``instructor`` extra too. The Colab install cell installs the core alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from conftest import LESSONS, ROOT
from course_utils.layout import COLAB_INSTALL, PACKAGE, solution_notebook
from course_utils.lock import canonical

INSTRUCTOR_ONLY = ("nbgrader", "papermill", "jupyterlab", "jupyter_server", "nbclient", "nbconvert")
STUDENT_MODULES = sorted(f"course_utils.{p.stem}" for p in (ROOT / "course_utils").glob("*.py") if p.stem != "__init__")

# A lesson's first steps in a Python where the instructor libraries cannot be imported.
WITHOUT_INSTRUCTOR_LIBRARIES = f'''
import importlib, importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {INSTRUCTOR_ONLY!r}:
            raise ImportError(f"{{name}} is an instructor library")
sys.meta_path.insert(0, Blocked())
for module in {STUDENT_MODULES + ["course_utils.data", "course_utils.data.baselines"]!r}:
    importlib.import_module(module)
from course_utils.data import load_emails
from course_utils.environment import check_versions
from course_utils.lesson import record_results, start_lesson
from course_utils.models import model_path, resolve_model
start_lesson("00_setup", "tiny")
assert len(load_emails("tiny")["train"]) == 64
assert model_path(resolve_model("encoder", "tiny"))
versions = check_versions()
assert not set({INSTRUCTOR_ONLY!r}) & set(versions.index), "the check asks students for instructor libraries"
record_results("00_setup", checked=len(versions))
tools = sorted(m for m in sys.modules if m.startswith("course_utils.tools"))
assert not tools, f"a student module imported the instructors' tools: {{tools}}"
print("STUDENT OK")
'''


def test_a_student_needs_no_instructor_library():
    result = subprocess.run([sys.executable, "-c", WITHOUT_INSTRUCTOR_LIBRARIES], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert "STUDENT OK" in result.stdout, result.stderr[-3000:]


def test_instructor_libraries_are_an_extra_and_colab_installs_the_core_alone():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {canonical(Requirement(r).name) for r in project["dependencies"]}
    extra = {canonical(Requirement(r).name) for r in project["optional-dependencies"]["instructor"]}
    assert {"nbgrader", "papermill", "jupyterlab"} <= extra and not extra & core, (core, extra)
    assert f'"{PACKAGE} @ git+' in COLAB_INSTALL and f"{PACKAGE}[" not in COLAB_INSTALL, "Colab: no extras"


def test_no_lesson_imports_the_tools():
    for lesson in LESSONS:
        cells = json.loads(solution_notebook(ROOT, lesson).read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert not re.search(r"^\s*(from|import) course_utils\.tools", code, re.M), \
            f"{lesson} imports course_utils.tools: lessons use course_utils only"
