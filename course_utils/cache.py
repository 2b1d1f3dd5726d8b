"""Cache expensive results that do not depend on a student's code (sweeps, comparison runs) per profile,
so re-running a lesson's analysis and widgets is instant."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from .profiles import Profile, resolve_profile

T = TypeVar("T")
CACHE_ENV = "COURSE_CACHE_DIR"
# Bump when a lesson's evaluation changes what a cached result means in a way no setting records.
RESULTS_VERSION = 2
_PACKAGE = Path(__file__).parent


def cache_root() -> Path:
    """``$COURSE_CACHE_DIR``, else ``~/.cache/fine-tuning-course``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fine-tuning-course")


def cache_dir(profile: Profile | str | None = None) -> Path:
    """``<cache_root>/results-v<RESULTS_VERSION>/<profile>``: results that depend on the code and the profile's sizes."""
    return cache_root() / f"results-v{RESULTS_VERSION}" / resolve_profile(profile).name


@functools.cache
def code_and_data_digest() -> str:
    """A digest of what every cached result is made with: the course's e-mails, the training code and the
    fields of the record it returns (``RunRecord``), so a result cached before a field was added is never read back,
    and the shared settings it trains with (``recipes``: the warm-up, the standard LoRA)."""
    digest = hashlib.sha256()
    for path in sorted((_PACKAGE / "data" / "emails").glob("*.jsonl")) + [_PACKAGE / "training.py", _PACKAGE / "recipes.py"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_key(name: str, profile: Profile | str | None, depends_on: tuple = ()) -> str:
    """``name`` and a digest of everything that produced the result: ``depends_on`` (the model, data and settings
    the caller names), every setting of the profile, the course's data and training code, and ``RESULTS_VERSION``."""
    safe_name = re.sub(r"[^\w.()=+-]+", "_", name)
    return f"{safe_name}_{fingerprint(name, asdict(resolve_profile(profile)), depends_on, code_and_data_digest())}"


def cached(name: str, profile: Profile | str | None, compute: Callable[[], T], depends_on: tuple = (),
           refresh: bool = False) -> T:
    """``compute()``, saved the first time and read back after, under a key that changes with anything that
    produced it (see ``cache_key``): name in ``depends_on`` every setting ``compute`` uses that the profile does not
    hold (model, learning rate, rank, seed). ``refresh=True`` computes it again regardless.
    """
    path = cache_dir(profile) / f"{cache_key(name, profile, depends_on)}.pkl"
    if path.is_file() and not refresh:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".partial", delete=False) as handle:
        pickle.dump(result, handle)
    os.replace(handle.name, path)  # whole or not at all: another process reading the cache never sees half a file
    return result


def _json_form(value):
    """What ``fingerprint`` hashes for a value JSON cannot hold: a library config by its settings, a set sorted."""
    if hasattr(value, "to_dict"):  # peft and transformers configs
        return value.to_dict()
    if isinstance(value, (set, frozenset)):  # a set's order changes between runs
        return sorted(value, key=str)
    text = str(value)
    if " at 0x" in text:  # a function or an object without a printable form: its key would change every run
        raise TypeError(f"cannot key a cached result by {text}: pass the settings it depends on instead")
    return text


def fingerprint(*parts) -> str:
    """A short digest of ``parts`` as JSON (see ``_json_form`` for the rest): equal parts, equal digest."""
    return hashlib.sha256(json.dumps(parts, default=_json_form, sort_keys=True).encode()).hexdigest()[:12]
