"""The drift check: what would the newest releases that pyproject.toml allows break? Run it before moving the lock.

    python -m course_utils.tools.drift                         # throwaway venv; fast tests and every lesson under tiny
    python -m course_utils.tools.drift --keep runs/drift/venv  # keep the venv, e.g. to debug a failure in it
    python -m course_utils.tools.drift --upgrade-torch         # torch too (set COURSE_TORCH_INDEX for a CPU build)

It installs the newest releases the ranges allow, with the caps of ``[tool.course.known-broken]`` lifted so
that the report says whether the releases they exclude still break the course, then runs the fast tests
(``-m "not notebook and not lock"``) and every solution under the tiny profile. torch stays at the lock's
version unless ``--upgrade-torch``: on Linux pip's default torch is a multi-GB CUDA build.
The report (``runs/drift/report.md`` and ``report.json``) lists the packages that moved from the lock, and
each failing test and lesson with its first error line. Exit code 1 if anything failed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
import venv
import xml.etree.ElementTree as ET
from pathlib import Path

from ..layout import PACKAGE
from ..lock import CLONE_EXTRAS, LOCK, OWN_BUILD, ROOT, canonical, lock_without, only_for_own_build, read_lock


def known_broken() -> dict[str, str]:
    """``{package: why}``: upper bounds in pyproject.toml that exclude a release known to break the course."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text()).get("tool", {}).get("course", {}).get("known-broken", {})


def newest_requirements(lift: dict[str, str]) -> list[str]:
    """pyproject's dependencies and a clone's extras (instructor, test); for the packages in ``lift``, upper bounds widened to the next major."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = []
    extras = [r for extra in CLONE_EXTRAS for r in project["optional-dependencies"][extra]]
    for req in map(Requirement, project["dependencies"] + extras):
        if canonical(req.name) in lift:
            caps = [s for s in req.specifier if s.operator in ("<", "<=")]
            kept = [str(s) for s in req.specifier if s not in caps]
            req.specifier = SpecifierSet(",".join(kept + ([f"<{Version(caps[0].version).major + 1}"] if caps else [])))
        out.append(str(req))
    return out


def run(cmd: list, log: Path, **kwargs) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    with log.open("a") as out:
        return subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, **kwargs).returncode


def installed_versions(python: Path) -> dict[str, str]:
    """What the drift venv holds (its own interpreter answers)."""
    code = "import json; from course_utils.lock import installed_versions; print(json.dumps(installed_versions()))"
    return json.loads(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def moved_packages(now: dict[str, str], lift: dict[str, str]) -> list[dict]:
    """Packages whose installed version differs from the lock's (or that the lock does not have)."""
    from packaging.version import Version

    locked = {}
    for entry in read_lock():
        locked.setdefault(entry.name, entry.version)
    rows = []
    for name in sorted(now):
        was = locked.get(name)
        if name in ("pip", canonical(PACKAGE)) or \
                (was and Version(was).public == Version(now[name]).public):
            continue
        rows.append({"package": name, "locked": was or "not in the lock", "newest": now[name],
                     "note": f"past the known-broken cap: {lift[name]}" if name in lift else ""})
    return rows


def failed_tests(junit: Path) -> tuple[dict, list[dict]]:
    """Counts and the failing tests, each with its first error line, from pytest's JUnit XML."""
    if not junit.exists():
        return {"error": "pytest wrote no report (see the log)"}, []
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    failures = []
    for case in suite.iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            first = next((line for line in (problem.get("message") or problem.text or "").splitlines() if line.strip()), "")
            failures.append({"test": f"{case.get('classname')}::{case.get('name')}", "error": first[:300]})
    return counts, failures


def report_markdown(report: dict) -> str:
    lines = [f"# Drift check, {report['date']}", "",
             f"Newest releases that pyproject.toml's ranges allow, against `{LOCK.relative_to(ROOT)}`. "
             f"Known-broken caps lifted: {', '.join(report['lifted']) or 'none'}; "
             f"torch {'upgraded' if report['upgrade_torch'] else 'kept at the lock'}.", "",
             f"## Packages that moved ({len(report['moved'])})", ""]
    if report["moved"]:
        lines += ["| package | locked | newest allowed | note |", "|---|---|---|---|"]
        lines += [f"| {m['package']} | {m['locked']} | {m['newest']} | {m['note']} |" for m in report["moved"]]
    else:
        lines.append("None: the lock is the newest the ranges allow.")
    counts, failures = report["tests"]["counts"], report["tests"]["failures"]
    lines += ["", "## Fast tests", "", ", ".join(f"{v} {k}" for k, v in counts.items()), ""]
    lines += [f"- `{f['test']}`: {f['error']}" for f in failures]
    lines += ["", "## Lessons under tiny", "", "| lesson | status | wall time (s) |", "|---|---|---|"]
    lines += [f"| {row['lesson']} | {row['status']} | {row['wall_seconds']} |" for row in report["lessons"]]
    lines += ["", f"Verdict: {'nothing broke' if report['ok'] else 'something broke: keep the lock, or fix the course'}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.tools.drift", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build the venv here and keep it (default: a temporary folder)")
    parser.add_argument("--upgrade-torch", action="store_true", help="newest torch in range too (large download)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "drift", help="report folder (default: runs/drift)")
    args = parser.parse_args(argv)
    from packaging.requirements import Requirement

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "drift.log"
    log.write_text("")
    if args.keep and args.keep.exists() and not (args.keep / "pyvenv.cfg").exists():
        raise SystemExit(f"drift: {args.keep} exists and is not a virtual environment; name a new folder for --keep.")
    venv_dir = (args.keep or Path(tempfile.mkdtemp(prefix="course-drift-"))).resolve()
    cache = Path(tempfile.mkdtemp(prefix="course-drift-cache-"))  # lessons must not reuse runs made on the lock
    lift = {canonical(name): why for name, why in known_broken().items()}
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        python = venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        index = ["--extra-index-url", os.environ["COURSE_TORCH_INDEX"]] if os.environ.get("COURSE_TORCH_INDEX") else []
        requirements = newest_requirements(lift)
        if args.upgrade_torch:
            steps = [pip + [next(r for r in requirements if canonical(Requirement(r).name) == OWN_BUILD)] + index]
            keep_torch = []
        else:  # torch and what only it needs stay at the lock's versions; everything else moves
            entries = read_lock()
            torch_lock = out / "torch.lock"
            torch_lock.write_text(lock_without(LOCK.read_text(), {e.name for e in entries} - only_for_own_build(entries),
                                               "the drift check keeps torch at the lock"))
            steps, keep_torch = [pip + ["-c", torch_lock, OWN_BUILD] + index], ["-c", torch_lock]
        steps += [pip + ["--upgrade", "--upgrade-strategy", "eager", *keep_torch, *requirements] + index,
                  pip + ["--no-deps", "-e", ROOT]]
        for step in steps:
            if run(step, log) != 0:
                raise SystemExit(f"drift: installing the newest releases failed; see {log}")
        env = {**os.environ, "COURSE_PROFILE": "tiny", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
               "COURSE_CACHE_DIR": str(cache), "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        junit = out / "fast-tests.xml"
        junit.unlink(missing_ok=True)
        run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "-m", "not notebook and not lock",
             f"--junitxml={junit}"], log, cwd=ROOT, env=env)
        counts, failures = failed_tests(junit)
        summary = out / "lessons" / "summary.json"
        summary.unlink(missing_ok=True)
        run([python, "-m", "course_utils.tools.runner", "--profile", "tiny", "--out", out / "lessons"], log, cwd=ROOT, env=env)
        lessons = json.loads(summary.read_text()) if summary.exists() else []  # none: the runner crashed (see the log)
        report = {"date": datetime.date.today().isoformat(), "lifted": [f"{n} ({w})" for n, w in lift.items()],
                  "upgrade_torch": args.upgrade_torch, "moved": moved_packages(installed_versions(python), lift),
                  "tests": {"counts": counts, "failures": failures},
                  "lessons": [{k: row[k] for k in ("lesson", "status", "wall_seconds")} for row in lessons]}
        report["ok"] = bool(lessons) and not failures and "error" not in counts and \
            all(row["status"] == "ok" for row in lessons)
        (out / "report.json").write_text(json.dumps(report, indent=2))
        (out / "report.md").write_text(report_markdown(report))
        print((out / "report.md").read_text())
        return 0 if report["ok"] else 1
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(venv_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
