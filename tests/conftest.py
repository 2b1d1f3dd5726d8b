"""Shared fixtures: the repository root, the lessons, and scratch copies of the course for nbgrader (each lesson
released once per test module)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from course_utils.layout import RELEASE_DIR, lesson_ids
from course_utils.lock import canonical

ROOT = Path(__file__).resolve().parent.parent
# Grade sandboxed where bubblewrap is installed (CI sets COURSE_REQUIRE_SANDBOX: a missing bwrap fails there).
SANDBOX = shutil.which("bwrap") is not None or bool(os.environ.get("COURSE_REQUIRE_SANDBOX"))
LESSONS = lesson_ids(ROOT)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Lessons cache their runs on disk. A test run starts from an empty cache, so the computing code always runs once,
# and its workers share it: a lesson's graded submissions read back what its solution run computed. The process that
# starts the run makes it (test workers inherit its environment) and removes it at the end (hundreds of MB a run).
if "PYTEST_XDIST_WORKER" not in os.environ:
    os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="course-cache-")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        shutil.rmtree(os.environ["COURSE_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="module")
def release_once(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``release_once(lesson)``: the test module's scratch course root, in which ``lesson`` has been generated afresh
    from solutions/ (``course/LESSON`` removed, then ``nbgrader generate_assignment``) once, however many tests ask."""
    from course_utils.tools import instructor

    root = instructor.copy_course(ROOT, tmp_path_factory.mktemp("released") / "course_root")
    released: set[str] = set()

    def release(lesson: str) -> Path:
        if lesson not in released:
            shutil.rmtree(root / RELEASE_DIR / lesson)
            instructor.release(root, [lesson])
            released.add(lesson)
        return root

    return release


@pytest.fixture
def released_copy(release_once: Callable[[str], Path], tmp_path: Path) -> Callable[[str], Path]:
    """``released_copy(lesson)``: a private copy of that released course root, gradebook included: a test that
    grades starts from an empty class without releasing again."""
    return lambda lesson: shutil.copytree(release_once(lesson), tmp_path / "course_root", symlinks=True)


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict]) -> dict:
    """``build(folder)``'s result (JSON), computed once per test run however many workers ask: the first computes it
    in the run's shared temporary folder under a lock and records it, the others read the record. (Tests that use it
    come first in their module, and xdist hands a worker consecutive tests, so usually one worker runs them all.)"""
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared
    record = shared / f"{name}.json"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.is_file():
            record.write_text(json.dumps(build(shared / name)))
    return json.loads(record.read_text())


def pretend_installed(monkeypatch: pytest.MonkeyPatch, name: str, version: str) -> None:
    """Make ``importlib.metadata.distributions()`` report ``name`` at ``version`` (the environment check reads it)."""
    import importlib.metadata

    real = importlib.metadata.distributions

    def distributions():
        for dist in real():
            if dist.metadata["Name"] and canonical(dist.metadata["Name"]) == name:
                dist = type("Fake", (), {"metadata": {"Name": name}, "version": version, "locate_file": lambda self, p: ""})()
            yield dist

    monkeypatch.setattr(importlib.metadata, "distributions", distributions)
