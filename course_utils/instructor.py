"""Instructor commands: nbgrader with its traps handled.

    python -m course_utils.instructor release [LESSON ...]      # regenerate course/ from solutions/
    python -m course_utils.instructor autograde LESSON [--student ID]
    python -m course_utils.instructor feedback LESSON [--student ID]
    python -m course_utils.instructor export [--to grades.csv]
    python -m course_utils.instructor validate NOTEBOOK.ipynb

Every call that accepts it passes ``--force`` (nbgrader otherwise skips work silently), an explicit
``--CourseDirectory.root``, and puts this Python's bin folder first on PATH (creating the gradebook
runs ``alembic``). Grading runs under the ``tiny`` profile unless ``COURSE_PROFILE`` says otherwise:
graded tests hold under every profile, and tiny keeps a class of hundreds fast.
``validate`` uses nbgrader's Python API, because the CLI exits 0 even when tests fail.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .layout import check_lessons, find_root


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader subprocesses: our bin first on PATH, a grading profile, offline hub."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("COURSE_PROFILE", "tiny")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def nbgrader(root: Path, *args: str, force: bool = True, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS --force --CourseDirectory.root=ROOT`` from the course root (export takes no --force)."""
    cmd = [sys.executable, "-m", "nbgrader", *args, *(["--force"] if force else []), f"--CourseDirectory.root={root}"]
    result = subprocess.run(cmd, cwd=root, env=nbgrader_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return result


def release(root: Path, lessons: list[str] | None = None) -> list[str]:
    """Regenerate ``course/LESSON/`` from ``solutions/LESSON/`` for each lesson (all by default)."""
    chosen = check_lessons(root, lessons)
    for lesson in chosen:
        nbgrader(root, "generate_assignment", lesson)
    return chosen


def autograde(root: Path, lesson: str, student: str | None = None) -> None:
    """Autograde ``submitted/*/LESSON`` (or one student's) into ``autograded/`` and the gradebook."""
    check_lessons(root, [lesson])
    nbgrader(root, "autograde", lesson, *(["--student", student] if student else []))


def feedback(root: Path, lesson: str, student: str | None = None) -> None:
    """Write HTML feedback for autograded submissions into ``feedback/``."""
    check_lessons(root, [lesson])
    nbgrader(root, "generate_feedback", lesson, *(["--student", student] if student else []))


def export(root: Path, to: Path) -> Path:
    """Export every grade in the gradebook to a CSV file."""
    nbgrader(root, "export", f"--to={to}", force=False)
    return to


def validate(notebook: Path) -> dict:
    """nbgrader's validation result for one notebook: empty when every test cell passes."""
    from nbgrader.validator import Validator

    if not notebook.is_file():
        raise FileNotFoundError(f"No notebook at {notebook}.")
    for key, value in nbgrader_env().items():
        os.environ.setdefault(key, value)
    return Validator().validate(str(notebook.resolve()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.instructor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="course root (default: found from the current folder)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="regenerate course/ from solutions/").add_argument("lessons", nargs="*")
    for name in ("autograde", "feedback"):
        p = sub.add_parser(name)
        p.add_argument("lesson")
        p.add_argument("--student")
    sub.add_parser("export", help="grades to CSV").add_argument("--to", type=Path, default=Path("grades.csv"))
    sub.add_parser("validate", help="run a notebook's tests").add_argument("notebook", type=Path)
    args = parser.parse_args(argv)

    if args.command == "validate":
        result = validate(args.notebook)
        if not result:
            print(f"{args.notebook}: every test passes.")
            return 0
        for kind, cells in result.items():
            for cell in cells:
                print(f"[{kind}] {cell['source'].splitlines()[0] if cell['source'] else ''}\n{cell.get('raw_error', '')}")
        return 1
    root = (args.root or find_root()).resolve()
    if args.command == "release":
        print("released:", ", ".join(release(root, args.lessons)))
    elif args.command == "autograde":
        autograde(root, args.lesson, args.student)
    elif args.command == "feedback":
        feedback(root, args.lesson, args.student)
    elif args.command == "export":
        print("grades written to", export(root, args.to.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
