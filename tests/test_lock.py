"""The lock: what is installed is what was locked, every install path uses it, and the drift check reports honestly."""

from __future__ import annotations

import tomllib

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from conftest import ROOT
from course_utils import lock
from course_utils.environment import own_torch_packages
from course_utils.layout import PACKAGE
from course_utils.tools import bootstrap, drift
from course_utils.tools.runner import run_lesson

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.lock
def test_everything_installed_is_the_locked_version():
    installed, locked = lock.installed_versions(), lock.locked_versions()
    bundled_llm, bundled_version = lock.BUNDLED_LLM_REQUIREMENT.split("==")
    locked[lock.canonical(bundled_llm)] = bundled_version  # installed beside the lock, at its own pin
    exempt = {"pip", lock.canonical(PACKAGE)} | own_torch_packages(installed, locked)  # a CUDA torch of your own
    off = {name: (version, locked.get(name, "not in the lock")) for name, version in installed.items()
           if name not in exempt and (name not in locked or Version(version).public != Version(locked[name]).public)}
    assert not off, ("installed (version, lock) differ: " + ", ".join(f"{n} {v}" for n, v in sorted(off.items())) +
                     ". Re-run `python3 -m course_utils.tools.bootstrap install`, or move the lock on purpose (README).")


def test_every_dependency_is_locked_inside_its_range():
    locked = {e.name: e.version for e in lock.read_lock()}
    requirements = PYPROJECT["dependencies"] + [r for extra in PYPROJECT["optional-dependencies"].values() for r in extra]
    for req in map(Requirement, requirements):
        name = lock.canonical(req.name)
        assert name in locked, f"{name} is in pyproject.toml but not in the lock: run `python -m course_utils.lock`"
        assert req.specifier.contains(locked[name], prereleases=True), \
            f"the lock's {name}=={locked[name]} is outside pyproject's {req.specifier}: run `python -m course_utils.lock`"
    assert len({e.name for e in lock.read_lock()}) == len(lock.read_lock()), "one version per package"


def test_files_generated_from_the_lock_are_up_to_date():
    assert lock.main(["--check"]) == 0, "run `python -m course_utils.lock` and commit what it writes"


def test_the_lock_without_torch_drops_torch_and_only_what_torch_needs():
    entries = {e.name: e for e in lock.read_lock()}
    kept = {e.name for e in lock.read_lock(lock.WITHOUT_TORCH_LOCK)}
    dropped = set(entries) - kept
    assert {"torch", "sympy"} <= dropped and not {"fsspec", "jinja2", "filelock", "numpy"} & dropped, sorted(dropped)
    for name in dropped - {"torch"}:
        assert set(entries[name].via) <= dropped, f"{name} is needed by {entries[name].via}: it must stay"
    assert all(e == entries[e.name] for e in lock.read_lock(lock.WITHOUT_TORCH_LOCK)), "the rest is the lock, unchanged"


def test_colabs_lock_also_leaves_its_running_kernel_alone_but_pins_the_libraries():
    colab = {e.name for e in lock.read_lock(lock.COLAB_LOCK)}
    assert not {"torch", "ipykernel", "ipython", "tornado", "pyzmq", "traitlets"} & colab
    assert {"transformers", "peft", "bitsandbytes", "datasets", "numpy", "nbgrader", "jupyterlab"} <= colab


def test_read_lock_parses_pins_markers_and_via(tmp_path):
    path = tmp_path / "x.lock"
    path.write_text("# header\nAlpha_Pkg==1.0\n    # via torch\nbeta==2.0 ; sys_platform == 'win32'\n"
                    "    # via\n    #   alpha-pkg\n    #   fine-tuning-course (pyproject.toml)\n")
    alpha, beta = lock.read_lock(path)
    assert (alpha.name, alpha.version, alpha.marker, alpha.via) == ("alpha-pkg", "1.0", "", ("torch",))
    assert (beta.marker, beta.via) == ("sys_platform == 'win32'", ("alpha-pkg", "fine-tuning-course"))
    partial = lock.lock_without(path.read_text(), {"alpha-pkg"}, "a test")
    assert "Alpha_Pkg" not in partial and "beta==2.0" in partial and "without alpha-pkg: a test." in partial
    with pytest.raises(FileNotFoundError, match="python -m course_utils.lock"):
        lock.read_lock(tmp_path / "missing.lock")


def test_bootstrap_installs_torch_then_the_course_from_the_lock(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(bootstrap, "run", lambda cmd, **kw: commands.append([str(c) for c in cmd]))
    monkeypatch.setattr(bootstrap.venv.EnvBuilder, "create", lambda self, path: _fake_python(path))
    monkeypatch.setattr(bootstrap.subprocess, "run", lambda *a, **k: type("R", (), {"returncode": 1})())  # no torch yet
    monkeypatch.setenv("COURSE_TORCH_INDEX", "https://download.pytorch.org/whl/cpu")
    bootstrap.ensure_environment(tmp_path / "venv")
    torch_step, course_step, llm_step = commands
    # An extra index, not the only one: torch's dependencies are pinned too, at versions PyPI has.
    assert torch_step[-5:] == ["-c", str(lock.LOCK), "torch", "--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    assert course_step[-4:] == ["-c", str(lock.WITHOUT_TORCH_LOCK), "-e", f"{ROOT}[instructor,test]"], course_step
    assert llm_step[-2:] == ["--no-deps", lock.BUNDLED_LLM_REQUIREMENT], "the bundled LLM's package, without its dependencies"
    bootstrap.ensure_environment(tmp_path / "venv")
    assert len(commands) == 3, "an unchanged lock and pyproject.toml install nothing"
    monkeypatch.setattr(bootstrap, "LOCK", tmp_path / "moved.lock")
    (tmp_path / "moved.lock").write_text(lock.LOCK.read_text() + "# moved\n")
    bootstrap.ensure_environment(tmp_path / "venv")
    assert commands[3][-5:-2] == ["-c", str(tmp_path / "moved.lock"), "torch"] and commands[4] == course_step, \
        "a changed lock re-installs, torch too (bootstrap installed it)"


def test_bootstrap_keeps_a_torch_of_your_own(tmp_path, monkeypatch):
    commands = []
    monkeypatch.setattr(bootstrap, "run", lambda cmd, **kw: commands.append([str(c) for c in cmd]))
    _fake_python(tmp_path / "venv")
    monkeypatch.setattr(bootstrap.subprocess, "run", lambda *a, **k: type("R", (), {"returncode": 0})())  # torch is there
    monkeypatch.setenv("COURSE_TORCH_INDEX", "https://download.pytorch.org/whl/cu126")
    bootstrap.ensure_environment(tmp_path / "venv")
    assert [c[-1] for c in commands] == [f"{ROOT}[instructor,test]", lock.BUNDLED_LLM_REQUIREMENT], \
        "a torch installed before bootstrap's first run stays"


def test_bootstrap_refuses_a_python_older_than_pyproject_allows(monkeypatch, capsys):
    assert PYPROJECT["requires-python"] == ">=" + ".".join(map(str, bootstrap.MIN_PYTHON))
    monkeypatch.setattr(bootstrap.sys, "version_info", (3, 10, 12))
    with pytest.raises(SystemExit):
        bootstrap.main(["test"])
    assert "needs Python 3.11 or newer" in capsys.readouterr().err


def test_bootstrap_test_runs_the_unit_lane_then_the_notebook_lane(tmp_path, monkeypatch):
    calls, codes = [], []
    monkeypatch.setattr(bootstrap, "ensure_environment", lambda venv_dir: tmp_path / "python")
    monkeypatch.setattr(bootstrap.subprocess, "call", lambda cmd, **kw: calls.append(cmd) or codes.pop(0))
    lane = lambda cmd: cmd[cmd.index("-m", 3) + 1]  # noqa: E731 - the marker expression after pytest's own "-m"
    codes[:] = [0, 0]
    assert bootstrap.main(["test", "-k", "data"]) == 0
    assert [lane(c) for c in calls] == ["not notebook", "notebook"] and all(c[-2:] == ["-k", "data"] for c in calls)
    calls.clear(), codes.extend([1])
    assert bootstrap.main(["test"]) == 1 and len(calls) == 1, "a failing unit lane stops before the notebook lane"
    calls.clear(), codes.extend([5, 0])
    assert bootstrap.main(["test", "-k", "autograde"]) == 0, "a lane in which -k selects nothing is not a failure"
    calls.clear(), codes.extend([0])
    assert bootstrap.main(["test", "-m", "lock"]) == 0 and len(calls) == 1 and lane(calls[0]) == "lock"


def _fake_python(venv_dir):
    python = bootstrap.venv_python(venv_dir)
    python.parent.mkdir(parents=True, exist_ok=True)
    python.touch()


def test_drift_lifts_only_the_known_broken_caps():
    broken = drift.known_broken()
    assert "transformers" in broken and "prefix tuning" in broken["transformers"]
    newest = {Requirement(r).name: Requirement(r).specifier for r in drift.newest_requirements({"transformers": "why"})}
    assert newest["transformers"].contains("5.24.0") and not newest["transformers"].contains("6.0")
    assert str(newest["peft"]) == str(Requirement(next(r for r in PYPROJECT["dependencies"] if r.startswith("peft"))).specifier)
    assert "pytest" in newest and "nbgrader" in newest, "the suite needs the test and instructor extras"


def test_drift_report_names_what_moved_and_the_first_error_line(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite tests="3" failures="1" errors="0" skipped="0">'
                     '<testcase classname="tests.test_x" name="test_a"/>'
                     '<testcase classname="tests.test_x" name="test_b"><failure message="ValueError: boom&#10;more">tb</failure></testcase>'
                     '</testsuite></testsuites>')
    counts, failures = drift.failed_tests(junit)
    assert counts["failures"] == 1 and failures == [{"test": "tests.test_x::test_b", "error": "ValueError: boom"}]
    locked = lock.locked_versions()
    now = {**locked, "transformers": "5.24.0", "brand-new": "1.0", "pip": "99"}
    moved = drift.moved_packages(now, {"transformers": "breaks prefix tuning"})
    assert [m["package"] for m in moved] == ["brand-new", "transformers"]
    assert moved[1]["locked"] == locked["transformers"] and "known-broken" in moved[1]["note"]
    report = {"date": "2026-12-01", "lifted": ["transformers (why)"], "upgrade_torch": False, "moved": moved,
              "tests": {"counts": counts, "failures": failures}, "ok": False,
              "lessons": [{"lesson": "06_peft_comparison", "status": "incomplete: prefix tuning: refused", "wall_seconds": 30}]}
    text = drift.report_markdown(report)
    assert "| transformers | " + locked["transformers"] + " | 5.24.0 |" in text
    assert "`tests.test_x::test_b`: ValueError: boom" in text and "| 06_peft_comparison | incomplete: prefix tuning" in text


@pytest.mark.notebook
def test_a_lesson_that_leaves_a_part_out_is_incomplete_not_ok(tmp_path):
    notebook = tmp_path / "99_demo.ipynb"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from course_utils.lesson import record_results\n"
                                  "record_results('99_demo', score=1, left_out={'prefix tuning': 'peft refuses it'})")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebook)
    row = run_lesson(notebook, tmp_path / "out.ipynb", "tiny")
    assert row["status"] == "incomplete: prefix tuning: peft refuses it", row["status"]
