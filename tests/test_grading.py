"""Grading you can trust: the instructor guide's workflow on a fake class, and what students cannot game.

Lesson 00_setup is the class's assignment (it grades in seconds): three exercises of 2 points each.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import socket
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT, SANDBOX, once_per_run
from course_utils.layout import solution_notebook, student_notebook
from course_utils.tools import instructor
from test_lessons import _answered

pytestmark = pytest.mark.notebook
LESSON = "00_setup"
FIRST, SECOND, THIRD = "bytes_per_param_answer", "model_memory_answer", "parameter_bytes_answer"
FULL = 6.0


def _page_text(path: Path) -> str:
    """What a feedback page shows as text: tags removed (the traceback's syntax colouring splits lines), entities decoded."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def _nbgrader_cell(cell: dict) -> dict:
    return cell["metadata"].get("nbgrader", {})


def _submit(root: Path, student: str, notebook: dict | str) -> Path:
    path = root / "submitted" / student / LESSON / f"{LESSON}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))
    return path


def _answered_nb(root: Path, wrong: str | None = None) -> dict:
    return _answered(student_notebook(root, LESSON), solution_notebook(root, LESSON), wrong=wrong)


def _with_answer(notebook: dict, grade_id: str, source: str) -> dict:
    for cell in notebook["cells"]:
        if _nbgrader_cell(cell).get("grade_id") == grade_id:
            cell["source"] = source
    return notebook


def _scores(root: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(instructor.gradebook_url(root)) as gradebook:
        return {s.student.id: s.score for s in gradebook.assignment_submissions(LESSON)}


def _outputs(root: Path, student: str) -> str:
    notebook = json.loads((root / "autograded" / student / LESSON / f"{LESSON}.ipynb").read_text())
    return "\n".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                     for c in notebook["cells"] for o in c.get("outputs", []))


@pytest.fixture
def released(released_copy) -> Path:
    """A private course root in which lesson 00 is released and no one has submitted yet."""
    return released_copy(LESSON)


def _guide_commands() -> set[str]:
    """The instructor subcommands the guide tells instructors to run."""
    guide = (ROOT / "solutions" / "README.md").read_text()
    return set(re.findall(r"python -m course_utils\.tools\.instructor (\w+)", guide))


def _class_files(root: Path) -> dict[str, str]:
    """A class of seven notebooks in an LMS export, each a way of handing in lesson 00."""
    edited_tests = json.loads(student_notebook(root, LESSON).read_text())  # tests neutered, points raised
    for cell in edited_tests["cells"]:
        if _nbgrader_cell(cell).get("grade"):
            cell["source"], cell["metadata"]["nbgrader"]["points"] = "pass", 100
    deleted_tests = json.loads(student_notebook(root, LESSON).read_text())
    deleted_tests["cells"] = [c for c in deleted_tests["cells"] if not _nbgrader_cell(c).get("grade")]
    answered_no_tests = _answered_nb(root)
    answered_no_tests["cells"] = [c for c in answered_no_tests["cells"] if not _nbgrader_cell(c).get("grade")]
    return {
        "ada": json.dumps(_answered_nb(root)),                          # everything right
        "bob": student_notebook(root, LESSON).read_text(),              # handed in untouched
        "cyd": json.dumps(edited_tests),                                # edited locked tests and points
        "dee": json.dumps(deleted_tests),                               # deleted the tests, no answers
        "eli": json.dumps(answered_no_tests),                           # deleted the tests, right answers
        "fay": '{"cells": [ this is not json',                          # broken file
        "gus": json.dumps(_answered_nb(root, wrong=SECOND)),            # one exercise wrong: partial credit
    }


@dataclass
class GradedClass:
    """The guide's commands run once on a class of eight (LMS zip -> collect -> autograde -> feedback -> CSV): what
    each printed and returned, for the small tests below to check one step each."""

    root: Path
    students: list[str]
    ran: set[str] = field(default_factory=set)
    exit_codes: dict[str, int] = field(default_factory=dict)
    printed: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    def command(self, *args: str) -> int:
        """``python -m course_utils.tools.instructor ARGS`` on this class: its exit code, and what it printed, kept."""
        self.ran.add(args[0])
        with contextlib.redirect_stdout(io.StringIO()) as out:
            code = instructor.main(["--root", str(self.root), *args])
        self.exit_codes[args[0]], self.printed[args[0]] = code, out.getvalue()
        return code


def _grade_a_class(root: Path) -> GradedClass:
    files = _class_files(root)
    archive = root / "downloaded" / LESSON / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms_export.zip", "w") as bundle:
        for student, text in files.items():
            bundle.writestr(f"submissions/{student}_{LESSON}.ipynb", text)
    graded = GradedClass(root, sorted(files), ran={"release"})  # release_once released the lesson
    graded.command("collect", LESSON)
    (root / "submitted" / "hal" / LESSON).mkdir(parents=True)  # a folder with no notebook in it
    (root / "submitted" / "hal" / LESSON / "notes.txt").write_text("forgot the notebook")
    graded.command("autograde", LESSON, "--jobs", "2")  # two graders share the gradebook
    graded.scores = _scores(root)
    graded.command("feedback", LESSON)
    graded.command("export", "--to", str(root / "grades.csv"))
    return graded


@pytest.fixture(scope="module")
def graded_class(release_once, tmp_path_factory) -> GradedClass:
    def grade(folder: Path) -> dict:
        graded = _grade_a_class(shutil.copytree(release_once(LESSON), folder / "course_root"))
        return {**asdict(graded), "root": str(graded.root), "ran": sorted(graded.ran)}

    saved = once_per_run(tmp_path_factory, "graded_class", grade)
    return GradedClass(**{**saved, "root": Path(saved["root"]), "ran": set(saved["ran"])})


def test_collect_takes_every_notebook_out_of_the_lms_zip(graded_class):
    assert graded_class.exit_codes["collect"] == 0
    assert graded_class.printed["collect"].strip() == "collected: " + ", ".join(graded_class.students)


def test_autograde_grades_the_usable_and_says_what_to_do_about_the_rest(graded_class):
    printed = graded_class.printed["autograde"]
    assert graded_class.exit_codes["autograde"] == 1, "problems with some submissions: exit code 1"
    assert printed.startswith("graded 6 of 8 submissions"), printed
    fay, hal = (next(l for l in printed.splitlines() if l.strip().startswith(s)) for s in ("fay:", "hal:"))
    assert "not a valid notebook" in fay and "resubmit" in fay, fay
    assert "no 00_setup.ipynb" in hal and "notes.txt" in hal, hal


def test_scores_restore_edited_and_deleted_tests_and_give_partial_credit(graded_class):
    assert graded_class.scores == {"ada": FULL, "bob": 0, "cyd": 0, "dee": 0, "eli": FULL, "gus": FULL - 2}, graded_class.scores


def test_regrading_one_student_changes_no_grade(graded_class):
    root = graded_class.root
    assert instructor.main(["--root", str(root), "autograde", LESSON, "--student", "gus", "--timeout", "60"]) == 0
    assert _scores(root) == graded_class.scores, "re-grading one student changes nobody's grade, theirs included"


def test_feedback_shows_no_hidden_test_code(graded_class):
    assert graded_class.exit_codes["feedback"] == 0
    solution = solution_notebook(graded_class.root, LESSON).read_text().replace("\\n", "\n")
    hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", solution, re.S)
    hidden_lines = [line.strip().strip('",') for line in hidden.group(1).splitlines() if len(line.strip()) > 15]
    for student in ("ada", "bob", "gus"):
        page = _page_text(graded_class.root / "feedback" / student / LESSON / f"{LESSON}.html")
        leaked = [line for line in hidden_lines if line in page]
        assert not leaked, f"{student}'s feedback shows hidden test code: {leaked[:2]}"


def test_exported_grades_are_the_gradebooks(graded_class):
    assert graded_class.exit_codes["export"] == 0
    rows = list(csv.DictReader((graded_class.root / "grades.csv").open()))
    exported = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == LESSON}
    assert exported == graded_class.scores and all(float(r["max_score"]) == FULL for r in rows)


def test_every_command_of_the_guide_is_exercised(graded_class):
    graded = graded_class.root / "autograded" / "ada" / LESSON / f"{LESSON}.ipynb"
    assert graded_class.command("validate", str(graded)) == 0
    assert _guide_commands() <= graded_class.ran, f"the guide's commands not exercised here: {_guide_commands() - graded_class.ran}"


def test_a_hidden_test_failure_costs_its_points_and_shows_its_message_not_its_code(released: Path):
    """Visible tests all pass, a hidden one fails: autograding restores the hidden tests the student never saw, the
    exercise scores 0 and the others full, and the feedback shows the hidden assert's message but not its code."""
    import nbclient
    import nbformat

    from wrong_answers import catalogue

    mistake = next(w for w in catalogue(LESSON)[SECOND] if not w.visible)  # "no check on a negative count"
    notebook = _answered_nb(released)
    answer = next(c for c in notebook["cells"] if _nbgrader_cell(c).get("grade_id") == SECOND)
    notebook = _with_answer(notebook, SECOND, mistake.apply(answer["source"]))
    student_run = nbformat.reads(json.dumps(notebook), as_version=4)
    nbclient.NotebookClient(student_run, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(student_notebook(released, LESSON).parent)}}).execute()
    # (execute raises if any cell fails: the student's own run passes every visible test)
    _submit(released, "vic", notebook)
    assert not instructor.autograde(released, LESSON).problems
    from nbgrader.api import Gradebook

    with Gradebook(instructor.gradebook_url(released)) as gradebook:
        grades = {g.name: g.score for g in gradebook.find_submission_notebook(LESSON, LESSON, "vic").grades}
        possible = {g.name: g.max_score for g in gradebook.find_submission_notebook(LESSON, LESSON, "vic").grades}
    failed = SECOND.replace("_answer", "_test")
    assert grades[failed] == 0 and all(grades[n] == possible[n] for n in grades if n != failed), grades

    assert instructor.main(["--root", str(released), "feedback", LESSON, "--student", "vic"]) == 0
    page = _page_text(released / "feedback" / "vic" / LESSON / f"{LESSON}.html")
    test_cell = next("".join(c["source"]) for c in json.loads(solution_notebook(released, LESSON).read_text())["cells"]
                     if _nbgrader_cell(c).get("grade_id") == failed)
    hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", test_cell, re.S).group(1)
    message = re.search(r'raise AssertionError\("([^"]+)"\)', hidden).group(1)
    assert f"AssertionError: {message}" in page, "the feedback tells the student which hidden check failed"
    leaked = [line.strip() for line in hidden.splitlines() if len(line.strip()) > 15 and line.strip() in page]
    assert not leaked, f"the feedback shows hidden test code: {leaked}"


NEEDS_BWRAP = pytest.mark.skipif(not SANDBOX, reason="bubblewrap is not installed (apt-get install bubblewrap); CI requires it")


IGNORES_INTERRUPTS = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"


@pytest.mark.parametrize("sandbox", [False, pytest.param(True, marks=NEEDS_BWRAP)], ids=["plain", "sandboxed"])
def test_an_endless_answer_costs_only_its_exercise(released: Path, sandbox: bool):
    """"eve" loops until interrupted; "ign" ignores the interrupt, so its kernel is restarted and the cells before
    run again: either way the stuck exercise scores 0 and the ones after it still count."""
    from course_utils.models import verified_llm_path

    verified_llm_path()  # lesson 00 converts the bundled LLM on first use (~30 s): not within this test's cell limit
    _submit(released, "eve", _with_answer(_answered_nb(released), SECOND, "import time\nwhile True:\n    time.sleep(0.1)\n"))
    _submit(released, "ign", _with_answer(_answered_nb(released), SECOND, IGNORES_INTERRUPTS))
    # 30 s a cell: at 10 s, loading the models timed out on CI's 2 cores, shared with the other tests' kernels
    report = instructor.autograde(released, LESSON, timeout=30, sandbox=sandbox, jobs=2)
    assert report.graded == ["eve", "ign"], report.summary()
    assert _scores(released) == {"eve": FULL - 2, "ign": FULL - 2}, "the stuck exercise scores 0, the others still count"
    graded = json.loads((released / "autograded" / "ign" / LESSON / f"{LESSON}.ipynb").read_text())
    stuck = next(c for c in graded["cells"] if _nbgrader_cell(c).get("grade_id") == SECOND)
    assert "ignored the interrupt" in stuck["outputs"][-1]["evalue"], stuck["outputs"]
    assert not report.tampering, report.summary()


def test_partial_credit_within_an_exercise_with_several_test_cells(released_copy):
    """Lesson 04's LoRALinear has two test cells (layer 4 points, merge/unmerge 2): a broken merge keeps 4."""
    lesson = "04_lora"
    course_copy = released_copy(lesson)
    notebook = _answered(student_notebook(course_copy, lesson), solution_notebook(course_copy, lesson))
    for cell in notebook["cells"]:
        if _nbgrader_cell(cell).get("grade_id") == "lora_linear_answer":
            cell["source"] = cell["source"].replace("self.merged = True", "pass")
    path = course_copy / "submitted" / "kim" / lesson / f"{lesson}.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(notebook))
    assert not instructor.autograde(course_copy, lesson).problems
    from nbgrader.api import Gradebook

    with Gradebook(instructor.gradebook_url(course_copy)) as gradebook:
        grades = {g.name: g.score for g in gradebook.find_submission_notebook(lesson, lesson, "kim").grades}
    assert grades["lora_linear_test"] == 4 and grades["lora_merge_test"] == 0, grades


def _hidden_code(root: Path) -> list[str]:
    import nbformat

    from course_utils.tools.feedback import hidden_lines

    return sorted(hidden_lines(nbformat.read(solution_notebook(root, LESSON), as_version=4)))


MALICIOUS = '''
import json, os, pathlib, socket
found = {}
for name, path in {"solutions": "ROOT/solutions/00_setup/00_setup.ipynb", "gradebook": "ROOT/gradebook.db",
                   "password hashes": "/etc/shadow"}.items():  # readable wherever the grader runs as root
    try:
        pathlib.Path(path).read_bytes()
        found[name] = "READ"
    except Exception as error:
        found[name] = "blocked: " + type(error).__name__
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3).close()
    found["network"] = "CONNECTED"
except Exception as error:
    found["network"] = "blocked: " + type(error).__name__
found["environment"] = "READ" if os.environ.get("COURSE_TEST_SECRET") else "blocked: not set"
try:
    pathlib.Path("ELSEWHERE").read_text()  # outside the course root: another copy of it, the instructor's home
    found["elsewhere"] = "READ"
except Exception as error:
    found["elsewhere"] = "blocked: " + type(error).__name__
print("ATTACK " + json.dumps(found))
print("THREADS " + str(os.environ.get("OMP_NUM_THREADS")))
'''
PLANT = '''
from ipykernel import get_connection_file
runtime = pathlib.Path(get_connection_file()).parent
if not (runtime / "kernel.log").exists():
    os.mkfifo(runtime / "kernel.log")                            # the launcher's log, if the next kernel shared it
pathlib.Path("planted.txt").write_text("for the next grading run")  # into the notebook's own folder
os.symlink("ROOT/gradebook.db", "gradebook_link")                 # copied into feedback, if nbgrader saw it
'''


def _attacking(root: Path, port: int, elsewhere: Path) -> dict:
    """The right answers, and after the first one an attack: read the answers, the gradebook, a local service and
    the grader's environment; plant a FIFO where the launcher logs, a file and a link where nbgrader grades."""
    notebook = _answered_nb(root)
    answer = next(c for c in notebook["cells"] if _nbgrader_cell(c).get("grade_id") == FIRST)
    code = (MALICIOUS + PLANT).replace("ROOT", str(root)).replace("PORT", str(port)).replace("ELSEWHERE", str(elsewhere))
    return _with_answer(notebook, FIRST, answer["source"] + "\n" + code)


# Over the limits: the first answer asks for 20 GiB of memory, the second writes a file larger than the disk.
HOG_LIMITS = instructor.Limits(disk_gb=0.25)
HOGGING = {FIRST: "hog = bytearray(20 * 2**30)\n", SECOND: 'open("big.bin", "wb").write(bytes(300 * 2**20))\n'}
# A wrong answer to the third exercise, and an input transformer that turns every later test cell into `pass`.
SKIP_TESTS = """get_ipython().input_transformers_post.append(
    lambda lines: ["pass\\n"] if any("assert" in line or "Error(" in line for line in lines) else lines)
"""


def _over_limits(root: Path) -> dict:
    notebook = _answered_nb(root)
    for grade_id, code in HOGGING.items():
        answer = next(c for c in notebook["cells"] if _nbgrader_cell(c).get("grade_id") == grade_id)
        _with_answer(notebook, grade_id, code + answer["source"])
    return notebook


def _tampering(root: Path) -> dict:
    notebook = _answered_nb(root, wrong=THIRD)
    answer = next(c for c in notebook["cells"] if _nbgrader_cell(c).get("grade_id") == FIRST)
    return _with_answer(notebook, FIRST, answer["source"] + "\n" + SKIP_TESTS)


def _link_to_the_answers(folder: Path, root: Path) -> None:
    (folder / "solution.txt").symlink_to(solution_notebook(root, LESSON))
    (folder / "grades.txt").symlink_to(root / "gradebook.db")


def _grade_a_hostile_class(folder: Path, release_once) -> dict:
    """The attacks graded twice: by nbgrader alone (student "raw"), and by the course's autograde (sandboxed where
    bubblewrap is installed) and feedback, in a class where "aaa" attacks, "bob" answers honestly after it, "lnk"
    hands in links and a FIFO, and "pry" prints the kernel's input history (``In``: every hidden test that ran)."""
    with socket.socket() as listener, pytest.MonkeyPatch.context() as patch:  # a service on the grading machine
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        patch.setenv("COURSE_TEST_SECRET", "an API key in the grader's environment")
        patch.setenv("JUPYTER_RUNTIME_DIR", str(folder / "runtime"))  # an unsandboxed kernel plants its FIFO here
        elsewhere = folder / "instructor_home" / "api_key.txt"
        elsewhere.parent.mkdir(parents=True)
        elsewhere.write_text("outside the course root")
        bare = shutil.copytree(release_once(LESSON), folder / "bare" / "course_root", symlinks=True)
        _link_to_the_answers(_submit(bare, "raw", _attacking(bare, port, elsewhere)).parent, bare)
        instructor.nbgrader(bare, "autograde", LESSON, "--student", "raw", check=False)

        root = shutil.copytree(release_once(LESSON), folder / "defended" / "course_root", symlinks=True)
        _submit(root, "aaa", _attacking(root, port, elsewhere))
        _submit(root, "bob", _answered_nb(root))
        links = _submit(root, "lnk", _answered_nb(root)).parent
        _link_to_the_answers(links, root)
        os.mkfifo(links / "pipe")  # nbgrader alone would hang copying it
        prying = _answered_nb(root)
        prying["cells"].append({"cell_type": "code", "execution_count": None, "id": "print-history", "metadata": {},
                                "outputs": [], "source": 'print("\\n".join(In))'})
        _submit(root, "pry", prying)
        _submit(root, "hog", _over_limits(root))
        _submit(root, "tam", _tampering(root))
        report = instructor.autograde(root, LESSON, sandbox=SANDBOX, jobs=2, limits=HOG_LIMITS)
        instructor.feedback(root, LESSON)
    return {"bare": str(bare), "root": str(root), "report": asdict(report)}


@pytest.fixture(scope="module")
def hostile_class(release_once, tmp_path_factory) -> dict:
    return once_per_run(tmp_path_factory, "hostile_class", lambda folder: _grade_a_hostile_class(folder, release_once))


def _attack_found(root: Path, student: str) -> dict:
    return json.loads(re.search(r"ATTACK (\{.*\})", _outputs(root, student)).group(1))


def _left_behind(root: Path, student: str) -> list[str]:
    folders = [root / kind / student / LESSON for kind in ("submitted", "autograded")]
    return sorted({p.name for folder in folders if folder.is_dir() for p in folder.iterdir()} - {f"{LESSON}.ipynb"})


def test_without_the_defences_a_hostile_submission_gets_what_it_wants(hostile_class):
    """What the defences below must stop, shown working against nbgrader alone."""
    bare = Path(hostile_class["bare"])
    assert _attack_found(bare, "raw") == {"solutions": "READ", "gradebook": "READ", "network": "CONNECTED",
                                          "environment": "READ", "elsewhere": "READ",
                                          "password hashes": "READ" if os.geteuid() == 0 else "blocked: PermissionError"}
    graded = bare / "autograded" / "raw" / LESSON
    assert "### BEGIN SOLUTION" in (graded / "solution.txt").read_text(), \
        "nbgrader copies the solution notebook a link points at into the graded folder (and on into feedback)"
    assert {"planted.txt", "gradebook_link"} <= set(_left_behind(bare, "raw")), "the kernel writes where nbgrader grades"


@NEEDS_BWRAP
def test_sandbox_blocks_a_malicious_submission(hostile_class):
    root = Path(hostile_class["root"])
    found = _attack_found(root, "aaa")
    assert all(v.startswith("blocked") for v in found.values()), f"the sandbox let something through: {found}"
    assert {student: score for student, score in _scores(root).items() if student not in ("hog", "tam")} == \
        {"aaa": FULL, "bob": FULL, "lnk": FULL, "pry": FULL}, "sandboxed grading still grades"
    threads = re.search(r"THREADS (\S+)", _outputs(root, "aaa")).group(1)
    assert threads == os.environ.get("OMP_NUM_THREADS", str(max(1, os.cpu_count() // 2))), \
        "two kernels at once: each sees the thread count autograde chose (or the grader's own)"


@NEEDS_BWRAP
def test_a_submission_over_the_limits_loses_those_exercises_and_the_report_says_which(hostile_class):
    """20 GiB of memory and a file over the disk's size: both fail in the kernel, the others still score."""
    root, report = Path(hostile_class["root"]), instructor.GradingReport(**hostile_class["report"])
    assert _scores(root)["hog"] == FULL - 4, "the two exercises over the limits score 0, the third full"
    memory, disk = report.limits["hog"]
    assert memory.startswith(f"exceeded {HOG_LIMITS.memory_gb:g} GB of memory in {FIRST} (MemoryError"), memory
    assert re.match(rf"exceeded 0.25 GB of disk in {SECOND} \(OSError: \[Errno \d+\] (File too large|No space left on device)\)",
                    disk), disk
    assert f"hog: {memory}" in report.summary()
    assert set(report.limits) == {"hog"}, report.limits


def test_a_kernel_that_skips_the_tests_is_flagged_for_review(hostile_class):
    """An input transformer that turns the tests into `pass` earns full marks for a wrong answer (the kernel runs
    the student's code); the report names the change, and flags no honest kernel."""
    root, report = Path(hostile_class["root"]), instructor.GradingReport(**hostile_class["report"])
    assert _scores(root)["tam"] == FULL, "the tampering works: that is why it is flagged"
    assert report.tampering == {"tam": ["changed input transformers: __main__.<lambda>"]}, report.tampering
    assert "tam: review in formgrader, the kernel changed input transformers" in report.summary()


@NEEDS_BWRAP
def test_a_sandboxed_kernel_leaves_nothing_for_nbgrader_or_the_next_kernel(hostile_class):
    """Sandboxed, a kernel works in a private copy of its folder and a runtime folder of its own: the files it
    plants stay there, and the FIFO it plants where its log and sockets live does not stop the next kernel."""
    root = Path(hostile_class["root"])
    assert hostile_class["report"]["graded"] == ["aaa", "bob", "hog", "lnk", "pry", "tam"], hostile_class["report"]
    assert _left_behind(root, "aaa") == [], "the sandboxed kernel's files stay in its private copy"


def test_links_and_special_files_in_a_submission_never_reach_nbgrader(hostile_class):
    """Links in a submission's folder would make nbgrader copy what they point at (the solutions, the gradebook) into
    the graded folder and then into feedback; a FIFO makes the copy hang. They are removed first, and said so."""
    root, report = Path(hostile_class["root"]), instructor.GradingReport(**hostile_class["report"])
    assert "lnk" in report.graded and _scores(root)["lnk"] == FULL, report.summary()
    assert report.removed["lnk"] == ["grades.txt (a link)", "pipe (not a regular file)", "solution.txt (a link)"]
    assert "lnk: removed grades.txt (a link)" in report.summary(), "the instructor is told what was taken out"
    for student in report.graded:
        sent = sorted(p.name for p in (root / "feedback" / student / LESSON).iterdir())
        assert sent == [f"{LESSON}.html"], f"{student}'s feedback holds the student's page only, not {sent}"


def test_feedback_replaces_hidden_test_code_that_a_submission_prints(hostile_class):
    from course_utils.tools.feedback import REMOVED

    root = Path(hostile_class["root"])
    hidden = _hidden_code(root)
    assert any(line in _outputs(root, "pry") for line in hidden), "the attack reaches the graded notebook's outputs"
    page = _page_text(root / "feedback" / "pry" / LESSON / f"{LESSON}.html")
    assert not [line for line in hidden if line in page], "the feedback page shows hidden test code"
    assert REMOVED in page and "def bytes_per_param" in page, "what is not hidden still shows"
