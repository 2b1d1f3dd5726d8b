"""Instructor commands: nbgrader with its traps handled.

    python -m course_utils.tools.instructor release [LESSON ...]      # regenerate course/ from solutions/
    python -m course_utils.tools.instructor collect LESSON            # LMS zip files in downloaded/LESSON/archive/
    python -m course_utils.tools.instructor autograde LESSON [--student ID] [--sandbox] [--timeout S]
    python -m course_utils.tools.instructor feedback LESSON [--student ID]
    python -m course_utils.tools.instructor export [--to grades.csv]
    python -m course_utils.tools.instructor validate NOTEBOOK.ipynb

Every call that accepts it passes ``--force`` (nbgrader otherwise skips work silently), an explicit
``--CourseDirectory.root``, and puts this Python's bin folder first on PATH (creating the gradebook
runs ``alembic``). Grading runs under the ``tiny`` profile unless ``COURSE_PROFILE`` says otherwise:
graded tests hold under every profile, and tiny keeps a class of hundreds fast.
``validate`` uses nbgrader's Python API, because the CLI exits 0 even when tests fail.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..layout import check_lessons, find_root


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader subprocesses: our bin first on PATH, a grading profile, offline hub."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("COURSE_PROFILE", "tiny")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def nbgrader(root: Path, *args: str, force: bool = True, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS --force --CourseDirectory.root=ROOT`` from the course root (export takes no --force)."""
    cmd = [sys.executable, "-m", "nbgrader", *args, *(["--force"] if force else []), f"--CourseDirectory.root={root}"]
    result = subprocess.run(cmd, cwd=root, env=env or nbgrader_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return result


def release(root: Path, lessons: list[str] | None = None) -> list[str]:
    """Regenerate ``course/LESSON/`` from ``solutions/LESSON/`` for each lesson (all by default)."""
    chosen = check_lessons(root, lessons)
    for lesson in chosen:
        nbgrader(root, "generate_assignment", lesson)
    return chosen


@dataclass
class GradingReport:
    """Which submissions were graded, and what was wrong with the others (student id -> problem)."""

    graded: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"graded {len(self.graded)} of {len(self.graded) + len(self.problems)} submissions"]
        lines += [f"  {student}: {problem}" for student, problem in sorted(self.problems.items())]
        return "\n".join(lines)


def submission_problem(root: Path, lesson: str, student: str) -> str | None:
    """Why a student's submission cannot be graded (missing, not a notebook), or None if it can."""
    import nbformat

    folder = root / "submitted" / student / lesson
    notebook = folder / f"{lesson}.ipynb"
    if not folder.is_dir():
        return f"no submission: expected submitted/{student}/{lesson}/{lesson}.ipynb"
    if not notebook.is_file():
        found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        return f"no {lesson}.ipynb in submitted/{student}/{lesson}/ (found: {found}); ask for the notebook itself"
    try:
        nbformat.read(notebook, as_version=4)
    except Exception as error:  # nbformat raises several kinds for broken files
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return f"{notebook.name} is not a valid notebook ({reason}); ask the student to download it again from Jupyter and resubmit"
    return None


def autograde(root: Path, lesson: str, student: str | None = None, sandbox: bool = False,
              timeout: int | None = None) -> GradingReport:
    """Autograde ``submitted/*/LESSON`` (or one student's) into ``autograded/`` and the gradebook.

    Each submission is graded on its own, so a broken one is reported and does not stop the others.
    ``timeout`` overrides the per-cell limit (seconds); ``sandbox`` runs student code in bubblewrap.
    """
    check_lessons(root, [lesson])
    students = [student] if student else sorted(p.parent.name for p in (root / "submitted").glob(f"*/{lesson}"))
    options = [f"--Execute.timeout={timeout}"] if timeout else []
    env = nbgrader_env()
    report = GradingReport()
    with tempfile.TemporaryDirectory(prefix="course-grading-") as scratch:
        if sandbox:
            from .sandbox import KERNEL_NAME, write_kernelspec

            runtime = Path(scratch, "runtime")
            runtime.mkdir()
            write_kernelspec(root, Path(scratch, "jupyter"), runtime)
            env = {**env, "JUPYTER_PATH": os.pathsep.join(filter(None, [str(Path(scratch, "jupyter")), env.get("JUPYTER_PATH")])),
                   "JUPYTER_RUNTIME_DIR": str(runtime)}
            # The connection file and Unix sockets (the sandbox has no network) in the one shared folder.
            options += [f"--Execute.kernel_name={KERNEL_NAME}", "--KernelManager.transport=ipc",
                        f"--KernelManager.connection_file={runtime / 'kernel.json'}"]
        for name in students:
            problem = submission_problem(root, lesson, name)
            if problem is None:
                result = nbgrader(root, "autograde", lesson, "--student", name, *options, check=False, env=env)
                if result.returncode != 0:
                    problem = "nbgrader failed: " + _cause(result.stderr, Path(scratch, "runtime", "kernel.log"))
            if problem:
                report.problems[name] = problem
            else:
                report.graded.append(name)
    return report


def _cause(stderr: str, kernel_log: Path) -> str:
    """The most telling line of a failed nbgrader run: its last exception, and the sandbox's own error."""
    errors = [line.strip() for line in stderr.splitlines() if re.match(r"\s*\w+(Error|Exception): ", line)]
    cause = (errors or stderr.strip().splitlines() or ["(no message)"])[-1][:300]
    if kernel_log.is_file() and kernel_log.read_text().strip():
        cause += f" (kernel: {kernel_log.read_text().strip().splitlines()[-1][:300]})"
    return cause


def collect(root: Path, lesson: str) -> list[str]:
    """Move LMS downloads into nbgrader's layout with ``nbgrader zip_collect``; returns the students found.

    Put the zip files (or loose notebooks) in ``downloaded/LESSON/archive/``, each notebook named
    ``STUDENTID_LESSON.ipynb`` (the pattern is ``FileNameCollectorPlugin.named_regexp`` in nbgrader_config.py).
    """
    check_lessons(root, [lesson])
    archive = root / "downloaded" / lesson / "archive"
    if not archive.is_dir() or not any(archive.iterdir()):
        raise FileNotFoundError(f"Nothing to collect: put the LMS zip files in {archive}.")
    nbgrader(root, "zip_collect", lesson)
    return sorted(p.parent.name for p in (root / "submitted").glob(f"*/{lesson}"))


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
    parser = argparse.ArgumentParser(prog="python -m course_utils.tools.instructor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="course root (default: found from the current folder)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="regenerate course/ from solutions/").add_argument("lessons", nargs="*")
    for name in ("autograde", "feedback"):
        p = sub.add_parser(name)
        p.add_argument("lesson")
        p.add_argument("--student")
        if name == "autograde":
            p.add_argument("--sandbox", action="store_true", help="run student code in bubblewrap (no files, no network)")
            p.add_argument("--timeout", type=int, help="seconds per cell (default: nbgrader_config.py's 120)")
    sub.add_parser("collect", help="LMS zip files -> submitted/").add_argument("lesson")
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
    elif args.command == "collect":
        print("collected:", ", ".join(collect(root, args.lesson)) or "nobody")
    elif args.command == "autograde":
        report = autograde(root, args.lesson, args.student, sandbox=args.sandbox, timeout=args.timeout)
        print(report.summary())
        return 1 if report.problems else 0
    elif args.command == "feedback":
        feedback(root, args.lesson, args.student)
    elif args.command == "export":
        print("grades written to", export(root, args.to.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
