"""The course runner: execute every lesson notebook with papermill under one profile and summarise.

    python -m course_utils.tools.runner --profile tiny                  # all solutions
    python -m course_utils.tools.runner --profile cpu --notebooks course 00_setup

Executed notebooks are kept in ``runs/<profile>/<notebooks>/``; ``summary.md`` and ``summary.json``
beside them list each lesson's status, wall time, peak memory and the key numbers it recorded with
:func:`course_utils.lesson.record_results`. A lesson that ran but recorded parts it had to leave out
(``left_out``, e.g. a method the installed libraries refuse) is "incomplete". The exit code is 1 unless
every lesson is "ok".
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..layout import RELEASE_DIR, SOURCE_DIR, check_lessons, find_root
from ..lesson import RESULTS_DIR_ENV


@contextmanager
def _environment(**values: str):
    """Set environment variables (inherited by the notebook's kernel) for the duration of a block."""
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


def run_lesson(notebook: Path, output: Path, profile: str, timeout: int = 1800, cwd: Path | None = None) -> dict:
    """Execute one notebook with ``PROFILE=profile`` (in ``cwd``, default its folder); return status, wall time
    and recorded results."""
    import papermill

    lesson = notebook.stem
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as results_dir, \
            _environment(**{RESULTS_DIR_ENV: results_dir, "COURSE_PROFILE": profile}):
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(notebook), str(output), parameters={"PROFILE": profile},
                                       kernel_name="python3", cwd=str(cwd or notebook.parent),
                                       progress_bar=False, execution_timeout=timeout)
            status = "ok"
        except papermill.PapermillExecutionError as err:
            status = f"failed in cell {err.exec_count}: {err.ename}: {err.evalue}"[:300]
        seconds = time.perf_counter() - start
        recorded = Path(results_dir, f"{lesson}.json")
        metrics = json.loads(recorded.read_text()) if recorded.exists() else {}
    metrics.pop("lesson", None)
    if status == "ok" and metrics.get("left_out"):
        status = ("incomplete: " + "; ".join(f"{part}: {why}" for part, why in metrics["left_out"].items()))[:300]
    return {"lesson": lesson, "status": status, "wall_seconds": round(seconds, 1),
            "peak_rss_mb": metrics.pop("peak_rss_mb", None), "metrics": metrics, "executed": str(output)}


def summary_markdown(rows: list[dict], profile: str, notebooks: str) -> str:
    lines = [f"# Course run: {notebooks} under the '{profile}' profile", "",
             "| lesson | status | wall time (s) | peak RSS (MB) | key results |", "|---|---|---|---|---|"]
    for row in rows:
        metrics = ", ".join(f"{k}={v}" for k, v in row["metrics"].items())
        lines.append(f"| {row['lesson']} | {row['status']} | {row['wall_seconds']} | {row['peak_rss_mb']} | {metrics} |")
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
    args = parser.parse_args(argv)

    root = (args.root or find_root()).resolve()
    out = (args.out or root / "runs" / args.profile / args.notebooks).resolve()
    rows = []
    for lesson in check_lessons(root, args.lessons):
        notebook = root / args.notebooks / lesson / f"{lesson}.ipynb"
        print(f"running {notebook.relative_to(root)} under '{args.profile}' ...", flush=True)
        row = run_lesson(notebook, out / f"{lesson}.ipynb", args.profile)
        print(f"  {row['status']} in {row['wall_seconds']} s", flush=True)
        rows.append(row)
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    (out / "summary.md").write_text(summary_markdown(rows, args.profile, args.notebooks))
    print(f"\nsummary: {out / 'summary.md'}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
