"""Sandboxed grading: run each student's kernel inside bubblewrap (``bwrap``), with resource limits.

nbgrader executes student code with the instructor's rights: a submission could read ``solutions/``,
the hidden tests in ``gradebook.db``, the instructor's home, or reach the network. In sandbox mode the kernel
nbgrader starts is wrapped by a kernelspec whose launcher (:func:`launch`) runs ``bwrap`` with

* only what the kernel needs, read-only: the system's programs and libraries (``/usr``), what it reads of ``/etc``,
  the Python it runs, the virtual environment, the course package and the bundled LLM once converted. Nothing else
  of the file system exists inside: not the course root, not the instructor's home, not other copies of the course;
* the notebook's folder as a private, size-capped copy (:attr:`Limits.disk_gb`, in memory): what the kernel writes
  there (links to ``solutions/``, a link in place of the graded notebook) never reaches the folders nbgrader reads
  and writes; a fresh ``/tmp`` (with ``HOME`` in it) of the same size;
* a cleared environment with only :data:`PASSED_ENV` passed on, from the grader's environment when the kernel
  starts (the grader's own variables, tokens and keys stay out); its own process table, and no network (a private
  network namespace with loopback only); the kernel talks to nbgrader over Unix sockets (``ipc``) in its own
  runtime folder, and its log lives outside anything it can write;
* resource limits (:class:`Limits`): memory, file size, processes.

What it does not stop: code running in the kernel can still tamper with the kernel itself (for example IPython
hooks that rewrite later cells); the grading report flags the signs it can see (``course_utils.tools.execute``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

KERNEL_NAME = "course-sandbox"
SANDBOX_HOME = "/tmp/home"  # the kernel's HOME: a fresh folder in its private /tmp
SUBMITTED_VIEW = "/submitted"  # the notebook's folder, read-only, from which the kernel's private copy is made
SANDBOX_LOG_ENV = "COURSE_SANDBOX_LOG"  # set per submission by the instructor commands: the launcher's log
# The grader's environment variables a graded kernel sees (when set); HOME and MPLCONFIGDIR are the sandbox's own.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "COURSE_PROFILE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
              "TRANSFORMERS_OFFLINE", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# The system's programs and libraries, shown read-only (the links of a merged /usr as links).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What the kernel reads of /etc (the linker's cache, users and groups, time zone, certificates, fonts): never all of
# it, where a grader running as root would let a submission read the password hashes and host keys.
ETC_SHOWN = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone", "passwd", "group",
             "nsswitch.conf", "host.conf", "hosts", "ssl", "ca-certificates", "fonts", "mime.types", "os-release")


@dataclass(frozen=True)
class Limits:
    """What one graded kernel may use. ``memory_gb``: its private writable memory (``RLIMIT_DATA``; over it an
    allocation fails with ``MemoryError``); ``disk_gb``: the size of its working folder and of its ``/tmp`` each,
    and of any one file it writes (``RLIMIT_FSIZE``; over it a write fails with "File too large" or "No space left
    on device"); ``processes``: how many more processes and threads it may start than its user runs when it starts
    (``RLIMIT_NPROC``; Linux does not apply it to root: grade as an ordinary user); ``wall_minutes``: the whole
    submission's grading time, after which it is stopped and reported ungraded (each cell has its own timeout)."""

    memory_gb: float = 6.0
    disk_gb: float = 1.0
    processes: int = 256
    wall_minutes: float = 30.0


def bwrap_path() -> str:
    """The ``bwrap`` executable, or a clear error saying how to install it."""
    path = shutil.which("bwrap")
    if path is None:
        raise RuntimeError("Sandboxed grading needs bubblewrap: install it with `apt-get install bubblewrap` "
                           "(Debian/Ubuntu) or grade without --sandbox on a machine you trust.")
    return path


def kernel_config(limits: Limits = Limits()) -> dict:
    """What the launcher needs to know, fixed when grading starts: bwrap, the kernel's Python, the limits, and the
    folders shown read-only besides the system's."""
    from ..models import converted_llm_dir

    converted = converted_llm_dir()
    return {
        "bwrap": bwrap_path(), "python": sys.executable, "limits": asdict(limits),
        # The Python the venv runs on, the venv, and the course package (any of them may be inside the course root).
        "shown": sorted({str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve()),
                         str(Path(__file__).resolve().parents[1])}),
        # The bundled LLM, converted once by the instructor, read-only where the kernel's cache (under its HOME)
        # looks for it: else every submission converts it again (~30 s, ~1.8 GB).
        "converted_llm": [str(converted), f"{SANDBOX_HOME}/.cache/fine-tuning-course/models/{converted.name}"]
        if (converted / "model.safetensors").is_file() else None,
    }


def write_kernelspec(folder: Path, limits: Limits = Limits()) -> Path:
    """Write the sandboxed kernelspec under ``folder/kernels/`` (put ``folder`` on JUPYTER_PATH).

    Each kernel's connection file and sockets are in a runtime folder of its own (the connection file's folder),
    the one place it shares with nbgrader; ``$COURSE_SANDBOX_LOG`` must name its log file.
    """
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    launcher = spec_dir / "sandboxed_kernel.py"
    launcher.write_text(f"""#!{sys.executable}
# Start an IPython kernel inside bubblewrap; argv[1] is the connection file. Written by course_utils.tools.sandbox.
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from course_utils.tools.sandbox import launch
launch({json.dumps(kernel_config(limits))!r}, sys.argv[1])
""")
    launcher.chmod(0o755)
    # The kernel cannot see its parent's PID from its own PID namespace (--die-with-parent covers that), and
    # signals do not cross bwrap: interrupts (per-cell timeouts) go as messages on the control channel.
    spec = {"argv": [str(launcher), "{connection_file}"], "display_name": "Python 3 (sandboxed grading)",
            "language": "python", "interrupt_mode": "message", "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def bwrap_argv(config: dict, connection_file: str, cwd: str, environ: Mapping[str, str]) -> list[str]:
    """The ``bwrap`` command line that starts the kernel for ``connection_file`` with its notebook folder ``cwd``."""
    disk = str(int(config["limits"]["disk_gb"] * 2 ** 30))
    argv = [config["bwrap"], "--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session",
            "--dev", "/dev", "--proc", "/proc", "--size", disk, "--tmpfs", "/tmp", "--dir", SANDBOX_HOME]
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for name in ETC_SHOWN:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    argv += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]  # how many cores torch sees
    for path in config["shown"]:
        argv += ["--ro-bind", path, path]
    if config["converted_llm"]:
        argv += ["--ro-bind", *config["converted_llm"]]
    runtime = os.path.dirname(os.path.abspath(connection_file))
    argv += ["--bind", runtime, runtime, "--ro-bind", cwd, SUBMITTED_VIEW, "--size", disk, "--tmpfs", cwd, "--chdir", cwd]
    argv += ["--clearenv", "--setenv", "HOME", SANDBOX_HOME, "--setenv", "MPLCONFIGDIR", SANDBOX_HOME]
    for name in PASSED_ENV:
        if name in environ:
            argv += ["--setenv", name, environ[name]]
    # Inside: copy the notebook's folder (regular files only by now) into the private one, then start the kernel.
    return [*argv, "/bin/sh", "-c", 'cp -R -P "$0"/. . && exec "$1" -m ipykernel_launcher -f "$2"',
            SUBMITTED_VIEW, config["python"], connection_file]


def user_tasks(uid: int) -> int:
    """How many processes and threads ``uid`` runs now (what ``RLIMIT_NPROC`` counts)."""
    count = 0
    for status in Path("/proc").glob("[0-9]*/task/[0-9]*/status"):
        try:
            count += f"\nUid:\t{uid}\t" in status.read_text()
        except OSError:  # ended while we looked
            pass
    return count


def apply_limits(limits: Limits) -> None:
    """Set this process's resource limits (inherited by bwrap and the kernel) from ``limits``."""
    memory, disk = int(limits.memory_gb * 2 ** 30), int(limits.disk_gb * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
    processes = user_tasks(os.getuid()) + limits.processes
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def launch(config_json: str, connection_file: str) -> None:
    """The kernelspec's launcher: log to ``$COURSE_SANDBOX_LOG``, set the limits, become the sandboxed kernel."""
    config = json.loads(config_json)
    log = os.environ.get(SANDBOX_LOG_ENV)
    if not log:
        raise SystemExit(f"${SANDBOX_LOG_ENV} is not set: start sandboxed kernels through "
                         "`python -m course_utils.tools.instructor autograde LESSON --sandbox`.")
    os.dup2(os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), 2)  # bwrap's and the kernel's errors
    apply_limits(Limits(**config["limits"]))
    argv = bwrap_argv(config, connection_file, os.getcwd(), os.environ)
    os.execv(argv[0], argv)
