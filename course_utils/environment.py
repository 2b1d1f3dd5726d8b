"""What machine is this? Colab, Binder or local; GPU, memory, online status; versions against the lock."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import sys
from dataclasses import dataclass

from .layout import PACKAGE as DISTRIBUTION  # the distribution whose dependencies are checked
from .lock import OWN_BUILD, canonical, locked_versions

HUB_HOST = "huggingface.co"


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


def check_versions() -> "pandas.DataFrame":  # noqa: F821
    """Each dependency's installed version next to the lock's, with the command that fixes a mismatch.

    Rows: every dependency the course package declares, then any other locked package installed at another
    version. torch may be a build of your own (Colab's, a CUDA wheel) anywhere in pyproject's range.
    """
    import pandas as pd
    from packaging.requirements import Requirement
    from packaging.version import Version

    try:
        requirements = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError as err:
        raise RuntimeError(
            f"The course package '{DISTRIBUTION}' is not installed in this kernel's environment: "
            "run `python -m course_utils.bootstrap lab` from the repository (or the install cell on Colab)."
        ) from err
    locked = locked_versions()
    direct = {canonical(r.name): r for r in map(Requirement, requirements)
              if not r.marker or r.marker.evaluate({"extra": ""})}  # extras (tests, gpu) are optional
    installed = {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
                 if d.metadata["Name"]}
    same = lambda name: name in installed and Version(installed[name]).public == Version(locked[name]).public  # noqa: E731
    drifted = [name for name in sorted(locked) if name not in direct and name in installed and not same(name)]
    rows = []
    for name in [*direct, *drifted]:
        have = installed.get(name, "missing")
        own_build = name == OWN_BUILD and have != "missing" and direct[name].specifier.contains(have, prereleases=True)
        rows.append({"package": name, "range": str(direct[name].specifier) if name in direct else "(dependency)",
                     "locked": locked[name], "installed": have + (" (your own build)" if own_build and not same(name) else ""),
                     "status": "ok" if same(name) or own_build else f"fix: pip install '{name}=={locked[name]}'"})
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
