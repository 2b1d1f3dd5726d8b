"""Cache expensive results that do not depend on a student's code (sweeps, comparison runs) per profile,
so re-running a lesson's analysis and widgets is instant."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .profiles import Profile, resolve_profile

T = TypeVar("T")
CACHE_ENV = "COURSE_CACHE_DIR"
# Bump when the training or evaluation code changes what a cached result would hold (a new recipe, a new
# field): results cached by the old code are then computed again instead of read back stale.
RESULTS_VERSION = 2


def cache_root() -> Path:
    """``$COURSE_CACHE_DIR``, else ``~/.cache/fine-tuning-course``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fine-tuning-course")


def cache_dir(profile: Profile | str | None = None) -> Path:
    """``<cache_root>/results-v<RESULTS_VERSION>/<profile>``: results that depend on the code and the profile's sizes."""
    return cache_root() / f"results-v{RESULTS_VERSION}" / resolve_profile(profile).name


def cached(name: str, profile: Profile | str | None, compute: Callable[[], T], refresh: bool = False) -> T:
    """The result cached as ``name`` for this profile; computed and saved the first time.

    Pass ``refresh=True`` (or delete the file) after changing what ``compute`` does.
    """
    path = cache_dir(profile) / f"{name}.pkl"
    if path.is_file() and not refresh:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(result, handle)
    return result


def fingerprint(*parts) -> str:
    """A short digest of what a cached result depends on (data, settings), for its name: change any part and
    the result is computed again instead of read back stale. Parts are hashed as JSON (``str`` of anything else)."""
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:12]
