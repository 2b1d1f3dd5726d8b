import os
from pathlib import Path

import pytest

from conftest import ROOT
from course_utils.layout import check_lessons, find_root, lesson_ids, solution_notebook, student_notebook
from course_utils.tools import instructor
from course_utils.tools.runner import summary_markdown


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
    rows = [{"lesson": "00_setup", "status": "ok", "wall_seconds": 12.0, "peak_rss_mb": 800.0,
             "metrics": {"encoder_params": 22713216}}]
    text = summary_markdown(rows, "tiny", "solutions")
    assert "| 00_setup | ok | 12.0 | 800.0 | encoder_params=22713216 |" in text


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
        with lock:
            running -= 1
            graded.append(args[args.index("--student") + 1])
        return type("Done", (), {"returncode": 1 if "s3" in args else 0, "stderr": "ValueError: broken"})()

    monkeypatch.setattr(instructor, "nbgrader", fake_nbgrader)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    report = instructor.autograde(tmp_path, lesson, jobs=2)
    assert most == 2 and sorted(graded) == students, (most, graded)
    assert report.graded == ["s0", "s1", "s2", "s4"] and report.problems == {"s3": "nbgrader failed: ValueError: broken"}
    with pytest.raises(ValueError, match="--jobs 1 or more"):
        instructor.autograde(tmp_path, lesson, jobs=0)
