"""Sandboxed grading: run each student's kernel inside bubblewrap (``bwrap``).

nbgrader executes student code with the instructor's rights: a submission could read ``solutions/``,
the hidden tests in ``gradebook.db``, or reach the network. In sandbox mode the kernel nbgrader starts is
wrapped by a kernelspec whose argv runs ``bwrap`` with

* the whole file system read-only, the course root replaced by an empty folder, and inside it only the
  course package, its virtual environment and the notebook's own folder put back;
* a cleared environment with only :data:`PASSED_ENV` passed on (the grader's own variables, tokens and keys
  included, stay out); a fresh ``/tmp`` and ``HOME``, its own process table, and no network (a private network namespace
  with loopback only); the kernel talks to nbgrader over Unix sockets (``ipc``) in its own runtime folder;
* the notebook's folder is a private copy: what the kernel writes there (links to ``solutions/``, a link in
  place of the graded notebook) never reaches the real folders nbgrader reads and writes, and its log lives
  outside anything the kernel can write.

What it does not stop: code running in the kernel can still tamper with the kernel itself (for example
IPython hooks that rewrite later cells). Review submissions whose scores look wrong in formgrader.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

KERNEL_NAME = "course-sandbox"
SANDBOX_HOME = "/tmp/home"  # the kernel's HOME: a fresh folder in its private /tmp
# Set per submission by the instructor commands: the launcher's log, and an empty folder for the notebook folder's copy.
SANDBOX_LOG_ENV, SANDBOX_WORK_ENV = "COURSE_SANDBOX_LOG", "COURSE_SANDBOX_WORK"
# The grader's environment variables a graded kernel sees (when set); HOME and MPLCONFIGDIR are the sandbox's own.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "COURSE_PROFILE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
              "TRANSFORMERS_OFFLINE", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def bwrap_path() -> str:
    """The ``bwrap`` executable, or a clear error saying how to install it."""
    path = shutil.which("bwrap")
    if path is None:
        raise RuntimeError("Sandboxed grading needs bubblewrap: install it with `apt-get install bubblewrap` "
                           "(Debian/Ubuntu) or grade without --sandbox on a machine you trust.")
    return path


def write_kernelspec(root: Path, folder: Path) -> Path:
    """Write the sandboxed kernelspec under ``folder/kernels/`` (put ``folder`` on JUPYTER_PATH).

    Each kernel's connection file and sockets are in a runtime folder of its own (the connection file's folder),
    the one place it shares with nbgrader; ``$COURSE_SANDBOX_LOG`` and ``$COURSE_SANDBOX_WORK`` must be set.
    """
    root = root.resolve()
    launcher = folder / "kernels" / KERNEL_NAME / "sandboxed_kernel.sh"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    # The course package and the virtual environment may live inside the hidden course root or /tmp: show them again.
    needed = (Path(__file__).resolve().parents[1], Path(sys.prefix).resolve())
    binds = [f'--ro-bind "{path}" "{path}"' for path in needed]
    # The bundled LLM, converted once by the instructor, read-only where the kernel's cache (under its HOME) looks
    # for it: else every submission converts it again (~30 s, ~1.8 GB).
    from ..models import converted_llm_dir

    converted = converted_llm_dir()
    if (converted / "model.safetensors").is_file():
        binds.append(f'--ro-bind "{converted}" "{SANDBOX_HOME}/.cache/fine-tuning-course/models/{converted.name}"')
    passed = " ".join(f"--setenv {name} {shlex.quote(os.environ[name])}" for name in PASSED_ENV if name in os.environ)
    launcher.write_text(f"""#!/bin/sh
# Start an IPython kernel inside bubblewrap; $1 is the connection file. Written by course_utils.tools.sandbox.
runtime="$(dirname "$1")"
exec 2>>"${{{SANDBOX_LOG_ENV}:?}}"  # bwrap's and the kernel's errors, for the grading report
work="${{{SANDBOX_WORK_ENV}:?}}"
cp -R -P "$PWD"/. "$work"/  # the notebook's folder (regular files only by now): the kernel works in this copy
exec "{bwrap_path()}" --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp \\
    --tmpfs "{root}" {" ".join(binds)} \\
    --bind "$runtime" "$runtime" --bind "$work" "$PWD" --chdir "$PWD" \\
    --dir {SANDBOX_HOME} --clearenv --setenv HOME {SANDBOX_HOME} --setenv MPLCONFIGDIR {SANDBOX_HOME} {passed} \\
    --unshare-net --unshare-pid --unshare-ipc --die-with-parent --new-session \\
    "{sys.executable}" -m ipykernel_launcher -f "$1"
""")
    launcher.chmod(0o755)
    # The kernel cannot see its parent's PID from its own PID namespace (--die-with-parent covers that), and
    # signals do not cross bwrap: interrupts (per-cell timeouts) go as messages on the control channel.
    spec = {"argv": [str(launcher), "{connection_file}"], "display_name": "Python 3 (sandboxed grading)",
            "language": "python", "interrupt_mode": "message", "metadata": {"debugger": False}}
    (launcher.parent / "kernel.json").write_text(json.dumps(spec, indent=1))
    return launcher.parent
