"""Students' ways in agree with the pins: binder/, the Colab install cell, the links, the environment check.

Nothing here builds an image or touches the network: it checks the files say the same thing.
"""

from __future__ import annotations

import json
import re
import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from conftest import LESSONS, ROOT
from course_utils.bootstrap import TORCH_PIN
from course_utils.layout import COLAB_INSTALL, PACKAGE, REPOSITORY, access_links, binder_url, colab_url
from course_utils.layout import solution_notebook, student_notebook

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pin(name: str) -> Requirement:
    return next(r for r in map(Requirement, PYPROJECT["project"]["dependencies"]) if r.name == name)


def test_binder_installs_the_same_torch_and_the_package_with_its_pins():
    lines = [l.strip() for l in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    torch = [l for l in lines if l.startswith("torch")]
    assert torch == [TORCH_PIN], f"binder pins {torch}, the bootstrap installs {TORCH_PIN}"
    assert _pin("torch").specifier.contains(TORCH_PIN.split("==")[1]), "the torch pin must satisfy pyproject's range"
    assert any("download.pytorch.org/whl/cpu" in l for l in lines), "Binder has no GPU: the CPU torch index"
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.(\s|$)", post_build), "postBuild installs the course package (with pyproject's pins)"
    python = (ROOT / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(Version(python + ".0"))


def test_every_notebook_installs_this_package_on_colab_and_links_colab_and_binder():
    assert PYPROJECT["project"]["name"] == PACKAGE
    for lesson in LESSONS:
        for path in (solution_notebook(ROOT, lesson), student_notebook(ROOT, lesson)):
            cells = json.loads(path.read_text())["cells"]
            source = lambda cell: "".join(cell["source"])  # noqa: E731
            assert source(cells[1]) == COLAB_INSTALL, f"{path}: the second cell must be the shared Colab install cell"
            assert access_links(lesson) in source(cells[0]), f"{path}: Open in Colab / Binder links under the title"
    assert f"git+https://github.com/{REPOSITORY}" in COLAB_INSTALL


def test_readme_links_every_lesson_three_ways():
    readme = (ROOT / "README.md").read_text()
    for lesson in LESSONS:
        row = next((l for l in readme.splitlines() if f"course/{lesson}/{lesson}.ipynb)" in l), "")
        assert row, f"README's lesson table has no row linking course/{lesson}/{lesson}.ipynb"
        assert colab_url(lesson) in row and binder_url(lesson) in row, f"{lesson}: Colab and Binder links in its row"


def test_environment_check_passes_here_and_names_the_fix(monkeypatch, capsys):
    import importlib.metadata

    from course_utils import environment

    assert environment.main() == 0, capsys.readouterr().out
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "1.0.0" if name == "peft" else real_version(name))
    assert environment.main() == 1
    assert f"fix: pip install 'peft{_pin('peft').specifier}'" in capsys.readouterr().out
