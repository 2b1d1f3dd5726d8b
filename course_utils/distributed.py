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
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

REPORT_ARGUMENT = "--report"  # every lesson-10 script writes its JSON report where this argument says


def launch(script: str | Path, processes: int, *args: str, use_gpus: bool | None = None, timeout: float = 600,
           show: bool = True) -> list[dict]:
    """Run ``torchrun --standalone --nproc_per_node PROCESSES SCRIPT ARGS`` and return the script's report: one dict
    per rank, rank 0 first.

    ``use_gpus``: a GPU per rank (default: where the machine has one per rank); otherwise the ranks run on the CPU
    cores (CUDA hidden from them), sharing them out: each rank gets ``threads // processes`` threads, where
    ``threads`` is ``$OMP_NUM_THREADS`` if set (e.g. by the test command or a grader running several kernels), else
    the cores this process may use. That is what a fair comparison of 1 and N processes on one machine needs. On Linux gloo talks over the loopback interface only. All of them are stopped if the run
    fails, times out or is interrupted.
    """
    import torch

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
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        if not gpus:
            env["CUDA_VISIBLE_DEVICES"] = ""  # fewer GPUs than ranks: every rank on the CPU
        if Path("/sys/class/net/lo").exists():
            env["GLOO_SOCKET_IFNAME"] = "lo"  # the ranks talk over 127.0.0.1 only
        argv = [sys.executable, "-m", "torch.distributed.run", *command[1:], REPORT_ARGUMENT, str(report)]
        process = subprocess.Popen(argv, cwd=script.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            raise TimeoutError(f"{script.name} on {processes} processes ran past {timeout:.0f} s and was stopped") from None
        finally:
            if process.poll() is None:  # interrupted (the notebook's stop button): take the ranks down too
                _stop(process)
        if process.returncode == 0 and not report.is_file():
            raise RuntimeError(f"{script.name} finished without writing its report (it must honour {REPORT_ARGUMENT})")
        if process.returncode != 0:
            raise RuntimeError(f"{script.name} on {processes} processes failed (exit code {process.returncode}); "
                               f"{failure_lines(output)}")
        return json.loads(report.read_text())


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


def _stop(process: subprocess.Popen, grace: float = 10) -> None:
    """Stop torchrun and its ranks (each in a session of its own): SIGTERM, which torchrun passes on, then SIGKILL."""
    import psutil

    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    process.terminate()
    try:
        process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    for member in family:  # psutil checks that each is still the process it was (no reused ids)
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.communicate()


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
