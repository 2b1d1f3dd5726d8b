"""The course runner: execute every lesson notebook with papermill under one profile and summarise.

    python -m course_utils.tools.runner --profile tiny                  # all solutions
    python -m course_utils.tools.runner --profile cpu --notebooks course 00_setup

    python -m course_utils.tools.runner --profile cpu --memory-cap-mb 2000 05_qlora   # as on Binder (2 GB)

Executed notebooks are kept in ``runs/<profile>/<notebooks>/``; ``summary.md`` and ``summary.json``
beside them list each lesson's status, wall time, peak memory and the key numbers it recorded with
:func:`course_utils.lesson.record_results`. A lesson that ran but recorded parts it had to leave out
(``left_out``, e.g. a method the installed libraries refuse) is "incomplete". The exit code is 1 unless
every lesson is "ok".

Memory is measured from outside the kernel too: every 0.1 s the runner adds up the memory of the kernel and every
process it starts as a container's memory limit charges it (each process's own pages, and the pages of the files
they share, such as PyTorch's libraries, once), and names the cell where the peak happened. With ``--memory-cap-mb``,
a lesson whose processes together go over the cap is killed, as Binder's limit kills a student's kernel, and is
reported as failed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from ..environment import environment_variables
from ..layout import RELEASE_DIR, SOURCE_DIR, check_lessons, find_root
from ..lesson import RESULTS_DIR_ENV


def charged_mb(memory_infos: list) -> float:
    """What a container's memory limit charges for these processes (``psutil`` memory infos), in MB: each one's own
    pages (RSS less its shared pages), plus shared pages once, as the page cache holds one copy of a file for
    every process that maps it. Their largest process's shared pages stand for all: processes that import the
    same libraries (a kernel and its ``torchrun`` ranks: ~140 MB of PyTorch's each) share nearly all of theirs."""
    own = sum(info.rss - info.shared for info in memory_infos)
    return (own + max((info.shared for info in memory_infos), default=0)) / 1e6


class ChildrenMemory:
    """While the block runs, sample every ``interval`` s the memory of this process's children and theirs (a notebook
    kernel and what it starts): :func:`charged_mb`, with the time. It reads each process's RSS and shared pages,
    which is cheap; PSS, exact for shared pages, costs a walk over every page (25 ms for a 2 GB process: a quarter
    of a core at this rate). With ``cap_mb``, the first sample over it kills them all (``exceeded`` holds that
    sample): what a container's memory limit does, give or take a sample."""

    def __init__(self, cap_mb: float | None = None, interval: float = 0.1):
        self.cap_mb, self.interval = cap_mb, interval
        self.samples: list[tuple[float, float]] = []  # (Unix time, MB)
        self.exceeded: tuple[float, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @property
    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    def _watch(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self.interval):
            processes, infos = me.children(recursive=True), []
            for process in processes:
                try:
                    infos.append(process.memory_info())
                except (psutil.NoSuchProcess, psutil.AccessDenied):  # it ended between the listing and the reading
                    pass
            self.samples.append((time.time(), charged_mb(infos)))
            if self.cap_mb and self.samples[-1][1] > self.cap_mb:
                self.exceeded = self.samples[-1]
                for process in processes:
                    try:
                        process.send_signal(signal.SIGKILL)
                    except psutil.NoSuchProcess:
                        pass
                return

    def __enter__(self) -> "ChildrenMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def cell_costs(executed: Path, samples: list[tuple[float, float]]) -> list[dict]:
    """Each code cell papermill ran in ``executed``: its index, first line, start (Unix time), seconds, and the
    highest memory sampled while it ran (``samples`` from :class:`ChildrenMemory`; None where no sample fell inside)."""
    import nbformat

    costs = []
    for index, cell in enumerate(nbformat.read(executed, as_version=4).cells):
        timing = cell.metadata.get("papermill", {})
        if cell.cell_type != "code" or not timing.get("start_time"):
            continue
        began = datetime.fromisoformat(timing["start_time"]).timestamp()
        ended = datetime.fromisoformat(timing["end_time"]).timestamp() if timing.get("end_time") else float("inf")
        inside = [mb for at, mb in samples if began <= at <= ended]
        first_line = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")), "")
        costs.append({"cell": index, "first_line": first_line[:80], "started": began, "seconds": timing.get("duration"),
                      "peak_mb": round(max(inside), 1) if inside else None})
    return costs


def run_lesson(notebook: Path, output: Path, profile: str, timeout: int = 1800, cwd: Path | None = None,
               memory_cap_mb: float | None = None) -> dict:
    """Execute one notebook with ``PROFILE=profile`` (in ``cwd``, default its folder); return status, wall time,
    memory (the kernel's own peak RSS and, measured from outside, the peak of all its processes and where it
    happened) and recorded results. With ``memory_cap_mb`` the kernel is killed when its processes go over it."""
    import papermill

    lesson = notebook.stem
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as results_dir, \
            environment_variables(**{RESULTS_DIR_ENV: results_dir, "COURSE_PROFILE": profile}), \
            ChildrenMemory(memory_cap_mb) as memory:
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(notebook), str(output), parameters={"PROFILE": profile},
                                       kernel_name="python3", cwd=str(cwd or notebook.parent),
                                       progress_bar=False, execution_timeout=timeout)
            status = "ok"
        except papermill.PapermillExecutionError as err:
            status = f"failed in cell {err.exec_count}: {err.ename}: {err.evalue}"[:300]
        except Exception as err:  # the kernel died (killed at the memory cap, or by the system), or a cell ran too long
            if memory.exceeded:
                status = f"killed: over the {memory_cap_mb:.0f} MB memory cap ({err.__class__.__name__})"
            elif err.__class__.__name__ == "CellTimeoutError":
                status = f"timed out: a cell ran over {timeout} s"
            else:
                raise
        seconds = time.perf_counter() - start
        recorded = Path(results_dir, f"{lesson}.json")
        metrics = json.loads(recorded.read_text()) if recorded.exists() else {}
    cells = cell_costs(output, memory.samples) if output.is_file() else []
    peak_cell = max((c for c in cells if c["peak_mb"] is not None), key=lambda c: c["peak_mb"], default=None)
    if status.startswith(("killed", "timed out")):
        stopped_at = memory.exceeded[0] if memory.exceeded else time.time()
        stopped_in = next((c for c in reversed(cells) if c["started"] <= stopped_at), None)
        status += f" in cell {stopped_in['cell']} ({stopped_in['first_line']})" if stopped_in else ""
    metrics.pop("lesson", None)
    if status == "ok" and metrics.get("left_out"):
        status = ("incomplete: " + "; ".join(f"{part}: {why}" for part, why in metrics["left_out"].items()))[:300]
    return {"lesson": lesson, "status": status, "wall_seconds": round(seconds, 1),
            "peak_rss_mb": metrics.pop("peak_rss_mb", None), "all_processes_peak_mb": round(memory.peak_mb, 1),
            "peak_cell": peak_cell, "memory_cap_mb": memory_cap_mb, "cells": cells, "metrics": metrics,
            "executed": str(output)}


def summary_markdown(rows: list[dict], profile: str, notebooks: str) -> str:
    lines = [f"# Course run: {notebooks} under the '{profile}' profile", "",
             "| lesson | status | wall time (s) | kernel peak RSS (MB) | all its processes, peak (MB) | key results |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        metrics = ", ".join(f"{k}={v}" for k, v in row["metrics"].items())
        lines.append(f"| {row['lesson']} | {row['status']} | {row['wall_seconds']} | {row['peak_rss_mb']} | "
                     f"{row.get('all_processes_peak_mb')} | {metrics} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.tools.runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", help="lesson folders (default: all)")
    parser.add_argument("--profile", default=os.environ.get("COURSE_PROFILE", "tiny"), choices=("tiny", "cpu", "gpu"))
    parser.add_argument("--notebooks", default=SOURCE_DIR, choices=(SOURCE_DIR, RELEASE_DIR),
                        help="run the instructor solutions or the student notebooks")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/<profile>/<notebooks>)")
    parser.add_argument("--root", type=Path, help="course root (default: found from the current folder)")
    parser.add_argument("--memory-cap-mb", type=float, default=None,
                        help="kill a lesson whose kernel and its processes use more than this (Binder: 2000)")
    args = parser.parse_args(argv)

    root = (args.root or find_root()).resolve()
    out = (args.out or root / "runs" / args.profile / args.notebooks).resolve()
    rows = []
    for lesson in check_lessons(root, args.lessons):
        notebook = root / args.notebooks / lesson / f"{lesson}.ipynb"
        print(f"running {notebook.relative_to(root)} under '{args.profile}' ...", flush=True)
        row = run_lesson(notebook, out / f"{lesson}.ipynb", args.profile, memory_cap_mb=args.memory_cap_mb)
        print(f"  {row['status']} in {row['wall_seconds']} s", flush=True)
        rows.append(row)
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    (out / "summary.md").write_text(summary_markdown(rows, args.profile, args.notebooks))
    print(f"\nsummary: {out / 'summary.md'}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
