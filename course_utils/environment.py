"""What machine is this? Colab, Binder or local; GPU, memory, online status; versions against the lock."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from .layout import PACKAGE as DISTRIBUTION  # the distribution whose dependencies are checked
from .lock import OWN_BUILD, canonical, installed_versions, locked_versions, only_for_own_build, read_lock

HUB_HOST = "huggingface.co"


@contextmanager
def environment_variables(**values: str):
    """Set environment variables for the duration of a block (the processes started inside it inherit them)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Environment:
    """A snapshot of the machine a lesson runs on."""

    platform: str           # "colab", "binder" or "local"
    python: str
    cpu_count: int
    ram_gb: float
    gpu_name: str | None
    gpu_memory_gb: float | None
    bf16_supported: bool
    online: bool

    @property
    def accelerator_memory_gb(self) -> float:
        """Memory a model would live in: the GPU's if there is one, else system RAM."""
        return self.gpu_memory_gb if self.gpu_memory_gb is not None else self.ram_gb

    def summary(self) -> str:
        gpu = f"{self.gpu_name} ({self.gpu_memory_gb:.1f} GB, bf16={'yes' if self.bf16_supported else 'no'})" \
            if self.gpu_name else "none (CPU only)"
        return (f"platform {self.platform} | Python {self.python} | {self.cpu_count} CPU cores, "
                f"{self.ram_gb:.1f} GB RAM | GPU: {gpu} | hub: {'online' if self.online else 'offline'}")


def detect_platform() -> str:
    """``colab`` inside Google Colab, ``binder`` on mybinder.org, else ``local``."""
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "colab"
    if "BINDER_SERVICE_HOST" in os.environ or "BINDER_REQUEST" in os.environ:
        return "binder"
    return "local"


def is_online(timeout: float = 2.0) -> bool:
    """True if the model hub can be reached. ``HF_HUB_OFFLINE=1`` means offline without asking."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def detect_environment() -> Environment:
    """Inspect this machine (takes at most a couple of seconds when the hub does not answer)."""
    import psutil
    import torch

    gpu_name = gpu_mem = None
    bf16 = False
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu_name, gpu_mem = props.name, props.total_memory / 1e9
        bf16 = torch.cuda.is_bf16_supported()
    return Environment(
        platform=detect_platform(), python=platform.python_version(), cpu_count=os.cpu_count() or 1,
        ram_gb=psutil.virtual_memory().total / 1e9, gpu_name=gpu_name, gpu_memory_gb=gpu_mem,
        bf16_supported=bf16, online=is_online(),
    )


def runtime_requirements(name: str) -> list["Requirement"]:  # noqa: F821
    """What the installed distribution ``name`` requires, without its optional extras."""
    from packaging.requirements import Requirement

    return [r for r in map(Requirement, importlib.metadata.requires(name) or [])
            if not r.marker or r.marker.evaluate({"extra": ""})]


def runtime_closure(root: str, installed: dict[str, str]) -> set[str]:
    """The installed packages that ``root`` needs to run, directly or not (optional extras excluded)."""
    found, todo = set(), [root]
    while todo:
        for req in runtime_requirements(todo.pop()):
            name = canonical(req.name)
            if name in installed and name not in found:
                found.add(name)
                todo.append(name)
    return found


def own_torch_packages(installed: dict[str, str], locked: dict[str, str]) -> set[str]:
    """torch and what only it needs, when torch is not the lock's build (Colab's, a CUDA wheel): the user's to choose."""
    if OWN_BUILD not in installed or _same(OWN_BUILD, installed, locked):
        return set()
    return {OWN_BUILD} | only_for_own_build(read_lock()) | (runtime_closure(OWN_BUILD, installed) - set(locked))


def _same(name: str, installed: dict[str, str], locked: dict[str, str]) -> bool:
    from packaging.version import Version

    return name in installed and name in locked and Version(installed[name]).public == Version(locked[name]).public


def check_versions() -> "pandas.DataFrame":  # noqa: F821
    """Each dependency's installed version next to the lock's, with the command that fixes a mismatch.

    Rows: every dependency the course package declares, then any other package it needs that is installed at
    a version other than the lock's. torch may be a build of your own (Colab's, a CUDA wheel) anywhere in
    pyproject's range; what only that torch needs is then yours too, and not checked.
    """
    import pandas as pd

    try:
        direct = {canonical(r.name): r for r in runtime_requirements(DISTRIBUTION)}
    except importlib.metadata.PackageNotFoundError as err:
        raise RuntimeError(
            f"The course package '{DISTRIBUTION}' is not installed in this kernel's environment: "
            "run `python -m course_utils.tools.bootstrap lab` from the repository (or the install cell on Colab)."
        ) from err
    installed, locked = installed_versions(), locked_versions()
    own = own_torch_packages(installed, locked)
    needed = runtime_closure(DISTRIBUTION, installed) - own
    drifted = sorted(name for name in needed if name not in direct and not _same(name, installed, locked))
    rows = []
    for name in [*direct, *drifted]:
        have, want = installed.get(name, "missing"), locked.get(name)
        own_build = name in own and direct[name].specifier.contains(have, prereleases=True)
        if _same(name, installed, locked) or own_build:
            status = "ok"
        elif want is None:
            status = "fix: not in the course's lock; reinstall the course (python3 -m course_utils.tools.bootstrap install)"
        else:
            status = f"fix: pip install '{name}=={want}'"
        rows.append({"package": name, "range": str(direct[name].specifier) if name in direct else "(dependency)",
                     "locked": want or "not locked", "installed": have + (" (your own build)" if own_build else ""),
                     "status": status})
    return pd.DataFrame(rows).set_index("package")


def main() -> int:
    """``python -m course_utils.environment``: this machine, and every dependency against the lock."""
    env = detect_environment()
    print(env)
    versions = check_versions()
    print(versions.to_string())
    broken = versions[versions["status"] != "ok"]
    if len(broken):
        print(f"\n{len(broken)} package(s) differ from the course's lock: run the 'fix' commands above, "
              "then restart the kernel.")
        return 1
    print("\nEvery dependency matches the course's lock.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
