"""Shared fixtures: the repository root, the lessons, and a scratch copy of the course for nbgrader."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from course_utils.layout import RELEASE_DIR, SOURCE_DIR, lesson_ids
from course_utils.lock import canonical

ROOT = Path(__file__).resolve().parent.parent
LESSONS = lesson_ids(ROOT)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Lessons cache sweeps on disk; tests start from an empty cache so the computing code always runs.
os.environ["COURSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="course-cache-")


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """A scratch course root (config, solutions/, course/) so nbgrader never touches the checkout."""
    root = tmp_path / "course_root"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for folder in (SOURCE_DIR, RELEASE_DIR):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


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
