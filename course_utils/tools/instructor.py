"""Instructor commands: nbgrader with its traps handled.

    python -m course_utils.tools.instructor release [LESSON ...]      # regenerate course/ from solutions/
    python -m course_utils.tools.instructor collect LESSON            # LMS zip files in downloaded/LESSON/archive/
    python -m course_utils.tools.instructor autograde LESSON [--student ID] [--sandbox] [--timeout S] [--jobs N]
                                                      [--memory-gb G] [--disk-gb G] [--processes N] [--wall-minutes M]
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
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..layout import RELEASE_DIR, SOURCE_DIR, check_lessons, find_root
from .sandbox import KERNEL_NAME, SANDBOX_LOG_ENV, Limits, write_kernelspec


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader subprocesses: our bin first on PATH, a grading profile, offline hub."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("COURSE_PROFILE", "tiny")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def nbgrader(root: Path, *args: str, force: bool = True, check: bool = True, env: dict[str, str] | None = None,
             timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS --force --CourseDirectory.root=ROOT`` from the course root (export takes no --force).

    After ``timeout`` seconds nbgrader and everything it started in its session is killed: the result then has
    exit code -9 and says so in its stderr."""
    cmd = [sys.executable, "-m", "nbgrader", *args, *(["--force"] if force else []), f"--CourseDirectory.root={root}"]
    with subprocess.Popen(cmd, cwd=root, env=env or nbgrader_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            stderr += f"\nWallTimeError: stopped after {timeout / 60:g} minutes"
    result = subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return result


def copy_course(root: Path, to: Path) -> Path:
    """A course root at ``to`` with ``root``'s configuration, solutions/ and course/ (no submissions, no gradebook):
    a place to grade in without touching ``root``."""
    to.mkdir(parents=True)
    shutil.copy(root / "nbgrader_config.py", to)
    for folder in (SOURCE_DIR, RELEASE_DIR):
        shutil.copytree(root / folder, to / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "runs"))
    return to


def release(root: Path, lessons: list[str] | None = None) -> list[str]:
    """Regenerate ``course/LESSON/`` from ``solutions/LESSON/`` for each lesson (all by default)."""
    chosen = check_lessons(root, lessons)
    for lesson in chosen:
        nbgrader(root, "generate_assignment", lesson)
    return chosen


# A submission's files above this size are not graded or copied (a lesson notebook with its outputs is a few MB).
MAX_SUBMITTED_FILE_MB = 50


@dataclass
class GradingReport:
    """Which submissions were graded, what was wrong with the others (student id -> problem), what was taken
    out of a submission before grading (student id -> what and why), which limits a graded one ran into, and the
    signs that its kernel was tampered with (:mod:`course_utils.tools.execute`)."""

    graded: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    limits: dict[str, list[str]] = field(default_factory=dict)
    tampering: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"graded {len(self.graded)} of {len(self.graded) + len(self.problems)} submissions"]
        lines += [f"  {student}: {problem}" for student, problem in sorted(self.problems.items())]
        lines += [f"  {student}: removed {', '.join(what)}" for student, what in sorted(self.removed.items())]
        lines += [f"  {student}: {line}" for student, what in sorted(self.limits.items()) for line in what]
        lines += [f"  {student}: review in formgrader, the kernel {line}" for student, signs in sorted(self.tampering.items())
                  for line in signs]
        return "\n".join(lines)


def keep_regular_files(folder: Path, max_mb: float = MAX_SUBMITTED_FILE_MB) -> list[str]:
    """Delete from ``folder`` what nbgrader must never follow or copy: links (a link to ``solutions/`` or the
    gradebook would be copied into feedback, or written through), FIFOs, sockets and device files (a read blocks or
    never ends), and files over ``max_mb``. Returns what went, as ``"NAME (why)"``; nothing is followed."""
    removed = []
    for dirpath, dirnames, filenames in os.walk(folder):  # os.walk does not descend into links
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            mode = path.lstat()
            relative = path.relative_to(folder).as_posix()
            if stat.S_ISDIR(mode.st_mode):
                continue
            if stat.S_ISLNK(mode.st_mode):
                removed.append(f"{relative} (a link)")
            elif not stat.S_ISREG(mode.st_mode):
                removed.append(f"{relative} (not a regular file)")
            elif mode.st_size > max_mb * 1e6:
                removed.append(f"{relative} ({mode.st_size / 1e6:.0f} MB, over {max_mb:.0f} MB)")
            else:
                continue
            path.unlink()
            if name in dirnames:
                dirnames.remove(name)
    return sorted(removed)


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


def gradebook_url(root: Path) -> str:
    """The gradebook's SQLAlchemy URL. Parallel graders write to it one at a time: SQLite locks the file for each
    write, and the timeout lets a writer wait its turn (up to two minutes) instead of failing at once."""
    return f"sqlite:///{root / 'gradebook.db'}?timeout=120"


def autograde(root: Path, lesson: str, student: str | None = None, sandbox: bool = False,
              timeout: int | None = None, jobs: int = 1, limits: Limits = Limits()) -> GradingReport:
    """Autograde ``submitted/*/LESSON`` (or one student's) into ``autograded/`` and the gradebook.

    Each submission is graded by its own nbgrader run, so a broken one is reported and does not stop the others;
    ``jobs`` runs that many at once (each needs a CPU core and the lesson's memory), their kernels sharing the
    cores (``OMP_NUM_THREADS`` = cores // jobs, unless it is set). ``timeout`` overrides the per-cell limit
    (seconds); ``sandbox`` runs student code in bubblewrap, within ``limits`` (the wall time applies to both).
    """
    from .execute import TAMPER_REPORT_ENV

    check_lessons(root, [lesson])
    if jobs < 1:
        raise ValueError(f"jobs={jobs}: grade at least one submission at a time (--jobs 1 or more)")
    students = [student] if student else sorted(p.parent.name for p in (root / "submitted").glob(f"*/{lesson}"))
    options = [f"--CourseDirectory.db_url={gradebook_url(root)}", *([f"--Execute.timeout={timeout}"] if timeout else [])]
    env = nbgrader_env()
    if jobs > 1 and "OMP_NUM_THREADS" not in env:  # N kernels with a thread per core each would fight for the cores
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    report, gradable = GradingReport(), []
    for name in students:
        if removed := contain_submission(root, lesson, name):
            report.removed[name] = removed
        if problem := submission_problem(root, lesson, name):
            report.problems[name] = problem
        else:
            gradable.append(name)
    with tempfile.TemporaryDirectory(prefix="course-grading-") as scratch:
        if sandbox:
            from ..models import verified_llm_path

            verified_llm_path()  # converted once here, shown read-only to every kernel (else each converts it)
            write_kernelspec(Path(scratch, "jupyter"), limits)
            env = {**env, "JUPYTER_PATH": os.pathsep.join(filter(None, [str(Path(scratch, "jupyter")), env.get("JUPYTER_PATH")]))}
            # The connection file and Unix sockets (the sandbox has no network) in the kernel's own runtime folder.
            options += [f"--Execute.kernel_name={KERNEL_NAME}", "--KernelManager.transport=ipc"]

        def grade(number: int, name: str) -> tuple[str | None, list[str]]:
            kernel_env, kernel_options = _own_folders(Path(scratch), number, env, options) if sandbox else (env, options)
            signs = Path(scratch, "tampering", f"{number}.json")
            signs.parent.mkdir(exist_ok=True)
            result = nbgrader(root, "autograde", lesson, "--student", name, *kernel_options, check=False,
                              env={**kernel_env, TAMPER_REPORT_ENV: str(signs)}, timeout=limits.wall_minutes * 60)
            cause = None if result.returncode == 0 else _cause(result.stderr, Path(kernel_env.get(SANDBOX_LOG_ENV, "")))
            return cause, json.loads(signs.read_text()) if signs.is_file() else []

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(grade, range(len(gradable)), gradable))
    for name, (cause, signs) in zip(gradable, results):
        if cause:
            report.problems[name] = "nbgrader failed: " + cause
            continue
        report.graded.append(name)
        if sandbox and (breaches := limits_exceeded(root / "autograded" / name / lesson / f"{lesson}.ipynb", limits)):
            report.limits[name] = breaches
        if signs:
            report.tampering[name] = signs
    return report


# What a kernel's error output says when it ran into one of the sandbox's limits.
LIMIT_ERRORS = {
    "memory": re.compile(r"MemoryError|[Cc]an(no|')t allocate memory|Unable to allocate"),
    "disk": re.compile(r"File too large|No space left on device"),
    "processes": re.compile(r"Resource temporarily unavailable|can't start new thread"),
}


def limits_exceeded(graded: Path, limits: Limits) -> list[str]:
    """One line per cell of a graded notebook whose error says it ran into a limit, naming the cell's exercise."""
    import nbformat

    if not graded.is_file():
        return []
    notebook = nbformat.read(graded, as_version=4)
    sizes = {"memory": f"{limits.memory_gb:g} GB of memory", "disk": f"{limits.disk_gb:g} GB of disk",
             "processes": f"{limits.processes} processes"}
    lines = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
            for kind, pattern in LIMIT_ERRORS.items():
                if pattern.search(text):
                    name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
                    lines.append(f"exceeded {sizes[kind]} in {name} ({text[:120]})")
    return lines


def contain_submission(root: Path, lesson: str, student: str) -> list[str]:
    """Make a submission safe to hand to nbgrader: its submitted and graded folders are real folders holding regular
    files only (:func:`keep_regular_files`). Returns what was removed."""
    removed = []
    for folder in (root / "submitted" / student, root / "autograded" / student):
        for path in (folder, folder / lesson):
            if path.is_symlink():
                path.unlink()
                removed.append(f"{path.relative_to(root).as_posix()} (a link)")
        if (folder / lesson).is_dir():
            removed += keep_regular_files(folder / lesson)
    return removed


def _own_folders(scratch: Path, number: int, env: dict[str, str], options: list[str]) -> tuple[dict[str, str], list[str]]:
    """The sandboxed kernel's own runtime folder (connection file, sockets) and log, outside anything an earlier
    kernel could write: nothing one submission leaves behind reaches the next."""
    runtime, log = scratch / "runtime" / str(number), scratch / "logs" / f"{number}.log"
    for folder in (runtime, log.parent):
        folder.mkdir(parents=True, exist_ok=True)
    return ({**env, "JUPYTER_RUNTIME_DIR": str(runtime), SANDBOX_LOG_ENV: str(log)},
            [*options, f"--KernelManager.connection_file={runtime / 'kernel.json'}"])


def _cause(stderr: str, kernel_log: Path) -> str:
    """The most telling line of a failed nbgrader run: its last exception (dotted names too, e.g.
    ``nbclient.exceptions.CellTimeoutError``), and the sandbox's own error."""
    errors = [line.strip() for line in stderr.splitlines() if re.match(r"\s*[\w.]+(Error|Exception): ", line)]
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
    """Write HTML feedback for autograded submissions into ``feedback/STUDENT/LESSON/LESSON.html``: that page only.

    nbgrader copies every other file of the graded folder into feedback (following links); here links and special
    files are removed from the graded folder first, and every file but the page from the feedback folder after."""
    check_lessons(root, [lesson])
    students = [student] if student else sorted(p.parent.name for p in (root / "autograded").glob(f"*/{lesson}"))
    for name in students:
        if (root / "autograded" / name / lesson).is_dir():
            keep_regular_files(root / "autograded" / name / lesson)
    nbgrader(root, "generate_feedback", lesson, *(["--student", student] if student else []))
    for name in students:
        folder = root / "feedback" / name / lesson
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name != f"{lesson}.html":
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


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
            p.add_argument("--jobs", type=int, default=1,
                           help="submissions graded at once (default 1; at most one per free CPU core, memory allowing)")
            defaults = Limits()
            p.add_argument("--memory-gb", type=float, default=defaults.memory_gb,
                           help=f"sandbox: memory per kernel (default {defaults.memory_gb:g})")
            p.add_argument("--disk-gb", type=float, default=defaults.disk_gb,
                           help=f"sandbox: size of the kernel's folder, its /tmp and any file it writes (default {defaults.disk_gb:g})")
            p.add_argument("--processes", type=int, default=defaults.processes,
                           help=f"sandbox: processes and threads per kernel (default {defaults.processes}; not enforced for root)")
            p.add_argument("--wall-minutes", type=float, default=defaults.wall_minutes,
                           help=f"grading time per submission (default {defaults.wall_minutes:g})")
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
        limits = Limits(args.memory_gb, args.disk_gb, args.processes, args.wall_minutes)
        report = autograde(root, args.lesson, args.student, sandbox=args.sandbox, timeout=args.timeout, jobs=args.jobs,
                           limits=limits)
        print(report.summary())
        return 1 if report.problems else 0
    elif args.command == "feedback":
        feedback(root, args.lesson, args.student)
    elif args.command == "export":
        print("grades written to", export(root, args.to.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
