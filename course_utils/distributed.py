"""Multi-process training from a notebook: launch a script on N processes with ``torchrun``, and the small pieces
the lesson-10 scripts share (starting the process group, reading the bundled encoder's training batches, one JSON
report gathered from every rank).

The scripts themselves (``course/10_beyond_one_device/*.py``) show the library calls: ``init_process_group``,
``DistributedSampler``, ``DistributedDataParallel``, ``ZeroRedundancyOptimizer``, ``fully_shard``, ``Trainer``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .environment import environment_variables

if TYPE_CHECKING:
    import torch

REPORT_ARGUMENT = "--report"  # every lesson-10 script writes its JSON report where this argument says


def launch(script: str | Path, processes: int, *args: str, use_gpus: bool | None = None, timeout: float = 600,
           show: bool = True) -> list[dict]:
    """Run ``torchrun --standalone --nproc_per_node PROCESSES SCRIPT ARGS`` and return the script's report: one dict
    per rank, rank 0 first.

    torchrun's own code (``torch.distributed.run``) runs in this process, as the command would in a terminal, but
    without a Python of its own that imports PyTorch again (~150 MB, which the notebook and two ranks cannot spare
    on Binder's 2 GB); it starts the ranks, each a process of its own, and stops them all if one fails. Their output
    goes to files, shown only if the run fails.

    ``use_gpus``: a GPU per rank (default: where the machine has one per rank); otherwise the ranks run on the CPU
    cores (CUDA hidden from them), sharing them out: each rank gets ``threads // processes`` threads, where
    ``threads`` is ``$OMP_NUM_THREADS`` if set (e.g. by the test command or a grader running several kernels), else
    the cores this process may use. That is what a fair comparison of 1 and N processes on one machine needs. On
    Linux gloo talks over the loopback interface only. The ranks are stopped if the run times out or is interrupted.
    """
    import torch
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"No script {script} in {Path.cwd()}: run the notebook from its own folder, where "
                                f"{script.name} sits beside it.")
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    gpus = torch.cuda.device_count() >= processes if use_gpus is None else use_gpus
    if gpus and torch.cuda.device_count() < processes:
        raise ValueError(f"{processes} processes need {processes} GPUs, this machine has {torch.cuda.device_count()}: "
                         "pass use_gpus=False to run them on the CPU")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, int(os.environ.get("OMP_NUM_THREADS") or cores) // processes)
    with tempfile.TemporaryDirectory(prefix="launch-") as scratch:
        report = Path(scratch) / "report.json"
        command = ["torchrun", "--standalone", f"--nproc_per_node={processes}", script.name, *map(str, args)]
        if show:
            print("$", shlex.join(command), f"  # {processes} GPUs" if gpus else f"  # on CPU, {threads} thread(s) per process")
        variables = {"OMP_NUM_THREADS": str(threads)}  # what the ranks inherit
        if not gpus:
            variables["CUDA_VISIBLE_DEVICES"] = ""  # fewer GPUs than ranks: every rank on the CPU
        if Path("/sys/class/net/lo").exists():
            variables["GLOO_SOCKET_IFNAME"] = "lo"  # the ranks talk over 127.0.0.1 only
        argv = [*command[1:3], "--log-dir", scratch, "--redirects", "3",  # each rank's stdout and stderr to a file
                str(script.resolve()), *command[4:], REPORT_ARGUMENT, str(report)]
        timer = threading.Timer(timeout, _stop_ranks, (script.resolve(),))
        handlers = {sig: signal.getsignal(sig) for sig in _AGENT_SIGNALS}  # torchrun takes these over to stop its ranks
        try:
            with environment_variables(**variables):
                timer.start()
                run(parse_args(argv))
        except ChildFailedError as failed:
            if not timer.is_alive():
                raise TimeoutError(f"{script.name} on {processes} processes ran past {timeout:.0f} s and was stopped") from None
            code, output = _first_error(failed, Path(scratch))
            raise RuntimeError(f"{script.name} on {processes} processes failed (exit code {code}); "
                               f"{failure_lines(output)}") from None
        except SignalException:  # the notebook's stop button: torchrun has stopped the ranks
            raise KeyboardInterrupt from None
        finally:
            timer.cancel()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        if not report.is_file():
            raise RuntimeError(f"{script.name} finished without writing its report (it must honour {REPORT_ARGUMENT})")
        return json.loads(report.read_text())


_AGENT_SIGNALS = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)]


def _stop_ranks(script: Path) -> None:
    """Kill this process's children that run ``script`` (a run past its time): torchrun then reports them failed."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            if str(script) in child.cmdline():
                child.kill()
        except psutil.NoSuchProcess:
            pass


def _first_error(failed, logs: Path) -> tuple[int, str]:
    """The exit code and output (stderr, else stdout) of the rank that failed on its own: one that exited with an
    error rather than being stopped by torchrun because another did (a negative code, a signal)."""
    failures = sorted(failed.failures.values(), key=lambda f: (f.exitcode < 0, f.timestamp))
    first = failures[0]
    for stream in ("stderr", "stdout"):
        text = "".join(path.read_text(errors="replace") for path in logs.glob(f"*/attempt_*/{first.local_rank}/{stream}.log"))
        if text.strip():
            return first.exitcode, text
    return first.exitcode, ""


def failure_lines(output: str, most: int = 30) -> str:
    """What to show of a failed run's output: the first Python traceback a rank printed (the error that stopped
    it: the other ranks' errors usually follow from it), else the last lines before torchrun's own report."""
    lines = output.splitlines()
    end = next((i for i, line in enumerate(lines) if "failed (exitcode" in line), len(lines))
    bare = [re.sub(r"^\[(?:default)?rank\d+\]: ?", "", line) for line in lines[:end]]  # torchrun's "[rank1]:" prefix
    start = next((i for i, line in enumerate(bare) if line.startswith("Traceback (most recent call last)")), None)
    if start is None:
        return "its last lines:\n" + "\n".join(lines[max(0, end - 20):end])
    # The traceback ends with its exception: the first line after it that is not indented.
    stop = next((i for i in range(start + 1, end) if bare[i].strip() and not bare[i].startswith(" ")), end - 1)
    return "its error:\n" + "\n".join(lines[start:stop + 1][-most:])


def start_process_group() -> tuple[int, int, "torch.device"]:
    """Join the job torchrun started: (rank, world size, this rank's device). nccl on GPUs, gloo on CPUs."""
    import torch
    import torch.distributed as dist

    if "RANK" not in os.environ:
        raise SystemExit("Start this script with torchrun, e.g. `torchrun --standalone --nproc_per_node 2 SCRIPT`.")
    gpu = torch.cuda.is_available()
    dist.init_process_group("nccl" if gpu else "gloo")
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if gpu else torch.device("cpu")
    if gpu:
        torch.cuda.set_device(device)
    return dist.get_rank(), dist.get_world_size(), device


def loopback_bytes() -> int | None:
    """Bytes sent over the loopback interface so far (``/proc/net/dev``): what ranks on one machine exchange.
    None where Linux's counters are not readable."""
    try:
        for line in Path("/proc/net/dev").read_text().splitlines():
            name, _, counters = line.partition(":")
            if name.strip() == "lo":
                return int(counters.split()[8])  # transmit bytes
    except OSError:
        pass
    return None


def write_report(row: dict, path: str | Path | None) -> None:
    """Gather ``row`` from every rank; rank 0 writes them all (rank order) as JSON to ``path``, or prints them if
    ``path`` is None. A run on one process (where a library such as Trainer starts no process group) has one row."""
    import torch.distributed as dist

    rows = [row]
    if dist.is_initialized():
        rows = [None] * dist.get_world_size()
        dist.all_gather_object(rows, row)
    if not dist.is_initialized() or dist.get_rank() == 0:
        text = json.dumps(rows, indent=1)
        if path:
            Path(path).write_text(text)
        else:
            print(text)
