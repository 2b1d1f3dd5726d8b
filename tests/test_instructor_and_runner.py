import json
import os
from pathlib import Path

import pytest

from conftest import ROOT
from course_utils.layout import check_lessons, find_root, lesson_ids, solution_notebook, student_notebook
from course_utils.tools import instructor
from course_utils.tools.runner import ChildrenMemory, cell_costs, run_lesson, summary_markdown


def test_find_root_from_inside_and_a_clear_error_outside(tmp_path):
    assert find_root(ROOT / "solutions" / "00_setup") == ROOT
    with pytest.raises(FileNotFoundError, match="cd into your clone"):
        find_root(tmp_path)


def test_unknown_lesson_lists_the_real_ones():
    with pytest.raises(SystemExit, match="00_setup"):
        check_lessons(ROOT, ["99_nope"])


def test_instructor_cli_outside_the_course_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="not inside the course repository"):
        instructor.main(["release"])


def test_nbgrader_runs_with_our_bin_on_path():
    import sys
    from pathlib import Path

    env = instructor.nbgrader_env()
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert (Path(sys.executable).parent / "alembic").exists(), "nbgrader needs alembic next to python"


@pytest.mark.notebook
def test_validate_uses_the_python_api_and_reports_failures():
    lesson = lesson_ids(ROOT)[0]
    assert instructor.validate(solution_notebook(ROOT, lesson)) == {}
    assert instructor.main(["validate", str(student_notebook(ROOT, lesson))]) == 1, \
        "an untouched student notebook fails validation, and the command says so in its exit code"


def test_summary_table_lists_every_lesson():
    rows = [{"lesson": "00_setup", "status": "ok", "wall_seconds": 12.0, "peak_rss_mb": 800.0, "all_processes_peak_mb": 812.5,
             "metrics": {"encoder_params": 22713216}}]
    text = summary_markdown(rows, "tiny", "solutions")
    assert "| 00_setup | ok | 12.0 | 800.0 | 812.5 | encoder_params=22713216 |" in text


ALLOCATE = "import time; block = bytearray({mb} * 10**6); block[::4096] = b'x' * len(block[::4096]); time.sleep({seconds})"


MAP_FILE = ("import mmap, time; f = open({path!r}, 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); "
            "sum(m[i] for i in range(0, len(m), 4096)); time.sleep({seconds})")


def test_children_memory_counts_every_child_and_kills_them_all_over_the_cap(tmp_path):
    import subprocess
    import sys

    shared = str(tmp_path / "weights.bin")
    with open(shared, "wb") as f:
        f.write(b"w" * 200_000_000)
    with ChildrenMemory() as memory:  # two children of 150 MB each: both are counted
        children = [subprocess.Popen([sys.executable, "-c", ALLOCATE.format(mb=150, seconds=1.5)]) for _ in range(2)]
        assert [child.wait(timeout=30) for child in children] == [0, 0]
    assert 300 < memory.peak_mb < 450, memory.peak_mb
    assert memory.exceeded is None

    with ChildrenMemory() as memory:  # two children mapping the same 200 MB file: the page cache holds it once
        children = [subprocess.Popen([sys.executable, "-c", MAP_FILE.format(path=shared, seconds=1.5)]) for _ in range(2)]
        assert [child.wait(timeout=30) for child in children] == [0, 0]
    assert 200 < memory.peak_mb < 300, memory.peak_mb

    with ChildrenMemory(cap_mb=250) as memory:
        children = [subprocess.Popen([sys.executable, "-c", ALLOCATE.format(mb=150, seconds=30)]) for _ in range(2)]
        codes = [child.wait(timeout=20) for child in children]
    assert codes == [-9, -9], "both children are killed, not only the one that crossed the cap"
    assert memory.exceeded and memory.exceeded[1] > 250


def test_cell_costs_put_each_memory_sample_in_the_cell_that_ran_then(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title")] + [
        nbformat.v4.new_code_cell(source, metadata={"papermill": {"start_time": start, "end_time": end, "duration": 10.0}})
        for source, start, end in (("# a comment first\nload()", "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:10+00:00"),
                                   ("train()", "2026-01-01T00:00:10+00:00", "2026-01-01T00:00:20+00:00"))])
    nbformat.write(nb, tmp_path / "run.ipynb")
    t0 = 1767225600.0  # 2026-01-01T00:00:00 UTC
    costs = cell_costs(tmp_path / "run.ipynb", [(t0 + 1, 500.0), (t0 + 9, 700.0), (t0 + 15, 1900.0), (t0 + 30, 5000.0)])
    assert [(c["cell"], c["first_line"], c["peak_mb"]) for c in costs] == [(1, "load()", 700.0), (2, "train()", 1900.0)]


@pytest.mark.notebook
def test_a_lesson_over_the_memory_cap_is_killed_and_the_cell_named(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell(ALLOCATE.format(mb=600, seconds=30)),
        nbformat.v4.new_code_cell("print('never')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "99_demo.ipynb")
    row = run_lesson(tmp_path / "99_demo.ipynb", tmp_path / "out.ipynb", "tiny", memory_cap_mb=400)
    assert row["status"].startswith("killed: over the 400 MB memory cap") and "in cell 3 (import time;" in row["status"], row["status"]
    assert row["wall_seconds"] < 25, "killed at the cap, not left to finish its sleep"


def test_keep_regular_files_removes_links_specials_and_oversized_files_without_following_them(tmp_path):
    folder, outside = tmp_path / "submission", tmp_path / "outside"
    (folder / "data").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("instructor only")
    (folder / "notebook.ipynb").write_text("{}")
    (folder / "data" / "big.bin").write_bytes(b"x" * 2_000_000)
    (folder / "data" / "small.csv").write_text("a,b\n")
    (folder / "secret.txt").symlink_to(outside / "secret.txt")
    (folder / "linked_folder").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "data" / "pipe")
    removed = instructor.keep_regular_files(folder, max_mb=1)
    assert removed == ["data/big.bin (2 MB, over 1 MB)", "data/pipe (not a regular file)", "linked_folder (a link)",
                       "secret.txt (a link)"], removed
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == ["data", "data/small.csv", "notebook.ipynb"]
    assert (outside / "secret.txt").read_text() == "instructor only", "nothing a link points at is touched"


def test_a_failed_grading_run_names_dotted_exception_types():
    stderr = "Traceback (most recent call last):\n  ...\nnbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed\n"
    assert instructor._cause(stderr, Path("no-log")).startswith("nbclient.exceptions.CellTimeoutError: A cell timed out")


def test_autograde_runs_as_many_graders_at_once_as_jobs_and_grades_each_submission_once(tmp_path, monkeypatch):
    import threading
    import time

    lesson = "00_setup"
    (tmp_path / "solutions" / lesson).mkdir(parents=True)
    (tmp_path / "solutions" / lesson / f"{lesson}.ipynb").write_text("{}")
    students = [f"s{i}" for i in range(5)]
    for student in students:
        (tmp_path / "submitted" / student / lesson).mkdir(parents=True)
        (tmp_path / "submitted" / student / lesson / f"{lesson}.ipynb").write_text(
            '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    running, most, graded, lock = 0, 0, [], threading.Lock()

    def fake_nbgrader(root, *args, **kwargs):
        nonlocal running, most
        assert f"--CourseDirectory.db_url={instructor.gradebook_url(root)}" in args, "writers wait their turn"
        assert kwargs["env"]["OMP_NUM_THREADS"] == "4", "two kernels on 8 cores: four threads each"
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        student = args[args.index("--student") + 1]
        out_of_memory = {"cell_type": "code", "source": "", "execution_count": 1,
                         "metadata": {"nbgrader": {"grade_id": "big_answer"}},
                         "outputs": [{"output_type": "error", "ename": "MemoryError", "evalue": "", "traceback": []}]}
        graded_nb = root / "autograded" / student / lesson / f"{lesson}.ipynb"
        graded_nb.parent.mkdir(parents=True)
        graded_nb.write_text(json.dumps({"cells": [out_of_memory], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        with lock:
            running -= 1
            graded.append(student)
        return type("Done", (), {"returncode": 1 if "s3" in args else 0, "stderr": "ValueError: broken"})()

    monkeypatch.setattr(instructor, "nbgrader", fake_nbgrader)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    report = instructor.autograde(tmp_path, lesson, jobs=2)
    assert most == 2 and sorted(graded) == students, (most, graded)
    assert report.graded == ["s0", "s1", "s2", "s4"] and report.problems == {"s3": "nbgrader failed: ValueError: broken"}
    assert report.limits == {}, "not sandboxed, no limit applied: a MemoryError is the machine's, not reported as one"
    with pytest.raises(ValueError, match="--jobs 1 or more"):
        instructor.autograde(tmp_path, lesson, jobs=0)


def _mounts(argv: list[str]) -> dict[str, str]:
    """bwrap's mounts (destination -> source or kind) and its environment, from its command line."""
    mounts, i = {}, 0
    while i < len(argv):
        if argv[i] in ("--ro-bind", "--ro-bind-try", "--bind", "--symlink"):
            mounts[argv[i + 2]], i = (argv[i], argv[i + 1]), i + 3
        elif argv[i] == "--setenv":
            mounts[argv[i + 1]], i = (argv[i], argv[i + 2]), i + 3
        elif argv[i] in ("--tmpfs", "--dir", "--dev", "--proc"):
            mounts[argv[i + 1]], i = (argv[i], None), i + 2
        else:
            i += 1
    return mounts


def test_the_sandbox_shows_only_what_the_kernel_needs_and_passes_the_environment_it_starts_in(tmp_path, monkeypatch):
    from course_utils import models
    from course_utils.tools import sandbox

    monkeypatch.setattr(sandbox, "bwrap_path", lambda: "/usr/bin/bwrap")
    converted = tmp_path / "instructor-cache" / "models" / "SmolLM2-converted"
    converted.mkdir(parents=True)
    monkeypatch.setattr(models, "converted_llm_dir", lambda: converted)
    assert sandbox.kernel_config()["converted_llm"] is None, "not converted yet: nothing to show, the kernel converts it"
    (converted / "model.safetensors").write_bytes(b"weights")
    config = sandbox.kernel_config(sandbox.Limits(disk_gb=0.5))
    course = tmp_path / "course"
    folder, runtime = course / "autograded" / "ada" / "04_lora", tmp_path / "grading" / "runtime" / "0"
    environ = {"PATH": "/usr/bin", "OMP_NUM_THREADS": "3", "OPENAI_API_KEY": "secret", "HOME": "/home/instructor"}
    argv = sandbox.bwrap_argv(config, str(runtime / "kernel.json"), str(folder), environ)
    mounts = _mounts(argv)
    shown = {dest: source for dest, (kind, source) in mounts.items() if kind in ("--ro-bind", "--ro-bind-try", "--bind")}
    system = {path: path for path in sandbox.SYSTEM_PATHS if Path(path).is_dir() and not Path(path).is_symlink()}
    etc = {f"/etc/{name}": f"/etc/{name}" for name in sandbox.ETC_SHOWN}
    assert not {"/", "/etc", "/etc/shadow", "/etc/ssh", "/home", "/root"} & set(shown), "no password hashes or host keys, even for root"
    assert shown == {**system, **etc, "/sys/devices/system/cpu": "/sys/devices/system/cpu", **{p: p for p in config["shown"]},
                     f"{sandbox.SANDBOX_HOME}/.cache/fine-tuning-course/models/{converted.name}": str(converted),
                     str(runtime): str(runtime), sandbox.SUBMITTED_VIEW: str(folder)}, \
        "the kernel sees the system, its Python, venv and package, the LLM, its runtime folder and its notebook's folder"
    private = next(i for i in range(len(argv) - 1) if argv[i:i + 2] == ["--tmpfs", str(folder)])
    assert mounts[str(folder)] == ("--tmpfs", None) and argv[private - 2:private] == ["--size", str(2 ** 29)], \
        "the kernel's working folder is a private copy, capped at --disk-gb"
    env = {dest: source for dest, (kind, source) in mounts.items() if kind == "--setenv"}
    assert env == {"PATH": "/usr/bin", "OMP_NUM_THREADS": "3", "HOME": sandbox.SANDBOX_HOME,
                   "MPLCONFIGDIR": sandbox.SANDBOX_HOME}, "the grader's environment when the kernel starts, allowed names only"
    assert "--clearenv" in argv and "--unshare-net" in argv


def test_a_submission_over_its_wall_time_is_stopped_with_everything_it_started(tmp_path):
    """A fake nbgrader that starts a child and hangs: both are killed at the timeout, and the result says why."""
    import time

    fake = tmp_path / "fake" / "nbgrader"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    child_pid = tmp_path / "child.pid"
    (fake / "__main__.py").write_text(
        "import pathlib, subprocess, time\n"
        f"pathlib.Path({str(child_pid)!r}).write_text(str(subprocess.Popen(['sleep', '60']).pid))\n"
        "time.sleep(60)\n")
    began = time.monotonic()
    result = instructor.nbgrader(tmp_path, "autograde", "04_lora", check=False,
                                 env={**os.environ, "PYTHONPATH": str(fake.parent)}, timeout=2)
    assert time.monotonic() - began < 20 and result.returncode == -9, result
    assert "WallTimeError: stopped after" in result.stderr and instructor._cause(result.stderr, Path("no-log")).startswith("WallTimeError")
    time.sleep(0.2)
    assert not Path(f"/proc/{child_pid.read_text()}").exists() or \
        Path(f"/proc/{child_pid.read_text()}/stat").read_text().split()[2] == "Z", "what it started is stopped too"


def test_tamper_signs_name_what_changed_and_ignore_the_lessons_libraries():
    from course_utils.tools.execute import tamper_signs

    before = {"input transformers": ["IPython.core.inputtransformer2.leading_empty_lines"], "event hooks": [],
              "builtins": ["builtins.AssertionError"]}
    after = {"input transformers": ["IPython.core.inputtransformer2.leading_empty_lines", "__main__.strip"],
             "event hooks": ["post_execute: matplotlib.pyplot._draw_all_if_interactive", "pre_run_cell: __main__.hook"],
             "builtins": ["__main__.FakeError"]}
    assert tamper_signs(before, before) == []
    assert tamper_signs(before, after) == ["changed input transformers: __main__.strip",
                                           "changed event hooks: pre_run_cell: __main__.hook",
                                           "changed builtins: __main__.FakeError"]
    assert tamper_signs(before, None) == ["the kernel did not answer the check of its cell-running machinery"]


@pytest.mark.notebook
def test_a_lesson_with_a_cell_over_the_timeout_is_reported_not_raised(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import time\ntime.sleep(60)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "99_demo.ipynb")
    row = run_lesson(tmp_path / "99_demo.ipynb", tmp_path / "out.ipynb", "tiny", timeout=3)
    assert row["status"] == "timed out: a cell ran over 3 s in cell 2 (import time)", row["status"]
