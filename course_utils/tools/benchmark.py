"""Benchmarks that write a table: how fast and how big the course's lessons and heavy steps are on this machine.

    python -m course_utils.tools.benchmark lessons              # every lesson: first run, cold cache, capped at 2 GB
    python -m course_utils.tools.benchmark lessons --readme     # ... and write its figures into README's lesson table
    python -m course_utils.tools.benchmark lessons --profile tiny 04_lora 05_qlora
    python -m course_utils.tools.benchmark readme --profile tiny   # README's column from the last lessons run
    python -m course_utils.tools.benchmark sft                  # lesson 08's LoRA/QLoRA SFT and the alternatives
    python -m course_utils.tools.benchmark sft --profile gpu --steps 20
    python -m course_utils.tools.benchmark learning-rates       # the course's learning rates, chosen on validation
    python -m course_utils.tools.benchmark grading              # autograde throughput for --jobs 1, 2 and 4

``lessons`` runs each lesson's solution notebook as a student's first run would: an empty results cache of its own
(the converted instruct LLM is shared: converting it, once per install, is timed apart), with the kernel and the
processes it starts capped at the profile's memory budget (``--memory-cap-mb``; 0: no cap). It writes
``lessons.md`` and ``lessons.json`` to ``runs/benchmark/<profile>/``: per lesson, the wall time against the time
budget, the kernel's peak RSS and the peak of all its processes (sampled every 0.1 s, shared pages once) against the memory
budget, the cell where memory peaked, and the slowest cells. ``--readme`` writes the times and peaks into the
profile's column of README.md's lesson table. Naming lessons reruns those: the other lessons keep the rows
measured before, with their date. The exit code is 1 unless every lesson run kept to its budgets.

``sft`` trains the bundled instruct LLM with TRL's ``SFTTrainer`` on the lesson's data for a few steps per
variant, each variant in its own process (so its peak RSS is its own), and writes ``sft.md`` and ``sft.json``
to ``runs/benchmark/<profile>/``: seconds per optimiser step (the first step, which warms up, left out),
tokens per second (real tokens, padding excluded), peak memory, and the share of a FLOP bound reached.
The bound: LoRA training costs about 4·N FLOPs per token (forward 2·N, backward through the frozen weights 2·N),
and this machine's float32 matmul speed is measured first. Timings are noise when other heavy jobs share the
cores: run it alone.

``learning-rates`` trains each of the course's recipes (a head on a frozen encoder, LoRA r=8, full fine-tuning,
lesson 01's few-shot fine-tuning) at several learning rates and scores the **validation** split, never test; it
writes ``learning_rates.md`` and ``.json``. The rule: the smallest rate within two standard errors of the best
(one seed cannot rank rates closer than that; the smaller is the safer default). The constants in
``course_utils.recipes`` and lesson 01 are the rates it chose under the cpu profile (their comments quote it).
Rates already in ``learning_rates.json`` for the same model and budget (epochs or steps) are reused: delete it to
measure all again.

``grading`` grades a class of ``--submissions`` copies of one lesson (04_lora by default; the solution and the
untouched notebook in turn, so every grade is known: full marks and zero) with ``autograde --jobs N`` for each N,
``--repeats`` times, each time in a fresh copy of the course, and writes ``grading.md`` and ``.json`` to
``runs/benchmark/grading/``: wall time, submissions per minute, whether every grade is right, and whether every
run's grades (each test cell's score, for every submission) are identical to the first's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from ..layout import SOURCE_DIR, check_lessons, find_root, solution_notebook, student_notebook

# What one lesson may cost on its first run (COURSE_DESIGN.md, "profiles"): wall seconds on 2 cores and MB of memory
# for the kernel and everything it starts (None: no memory budget; tiny runs in CI, and on gpu GPU memory is the
# limit, not RAM). The lesson that trains an LLM may take longer on cpu.
LESSON_BUDGETS = {"tiny": (60, None), "cpu": (300, 2000), "gpu": (900, None)}
# The lessons that train an LLM get 10 minutes on cpu: 08, and 09, whose first run trains lesson 08's LLM as a teacher.
LONGER_BUDGETS = {("cpu", "08_instruction_tuning"): 600, ("cpu", "09_distillation"): 600}
README_COLUMNS = {"tiny": "tiny (CI)", "cpu": "cpu (first run, measured)", "gpu": "gpu (first run, measured)"}

# The lesson's settings (solutions/08_instruction_tuning, sections 3-6; None: the profile's), then one change each.
LESSON_SFT = {"quantised": False, "lora_dropout": 0.0, "activation_checkpointing": None, "micro_batch": None}
SFT_VARIANTS = {
    "LoRA (lesson 08)": LESSON_SFT,
    "LoRA, lora_dropout=0.05": {**LESSON_SFT, "lora_dropout": 0.05},
    "LoRA, activation checkpointing on": {**LESSON_SFT, "activation_checkpointing": True},
    "LoRA, activation checkpointing off": {**LESSON_SFT, "activation_checkpointing": False},
    "LoRA, whole batch in one forward pass": {**LESSON_SFT, "micro_batch": "batch"},
    "QLoRA (lesson 08)": {**LESSON_SFT, "quantised": True},
    "QLoRA, activation checkpointing off": {**LESSON_SFT, "quantised": True, "activation_checkpointing": False},
}


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """This machine's float32 matmul speed with torch's current threads, in GFLOP/s (best of ``repeats``)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * size ** 3 / best / 1e9


def run_sft_variant(settings: dict, profile_name: str, steps: int) -> dict:
    """Train ``steps`` optimiser steps of lesson 08's SFT with ``settings``; return timings and memory."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
    from trl import SFTTrainer

    from ..data import TRIAGE_INSTRUCTION, load_emails, triage_answer
    from ..memory import peak_rss_mb, release_checkpoint
    from ..models import model_path, resolve_model
    from ..profiles import resolve_profile
    from ..recipes import nf4_config, sft_config, sft_lora_config
    from ..training import precision_flags

    profile = resolve_profile(profile_name)
    choice = resolve_model("causal_lm", profile)
    tokenizer = AutoTokenizer.from_pretrained(model_path(choice))
    precision = precision_flags()
    quantised = {"quantization_config": nf4_config()} if settings["quantised"] else {}
    model = AutoModelForCausalLM.from_pretrained(model_path(choice), dtype=torch.bfloat16 if precision["bf16"] else torch.float32,
                                                 **quantised)
    if quantised:
        model = release_checkpoint(model)
    elif torch.cuda.is_available():
        model = model.to("cuda")
    parameters = model.num_parameters()  # the base model's: the trainer adds LoRA's
    rows = Dataset.from_list([
        {"prompt": [{"role": "system", "content": TRIAGE_INSTRUCTION}, {"role": "user", "content": row["text"]}],
         "completion": [{"role": "assistant", "content": triage_answer(row)}]}
        for row in load_emails(profile)["train"].shuffle(seed=0)])
    micro = profile.sft_batch_size if settings["micro_batch"] == "batch" else profile.sft_micro_batch_size
    checkpointing = settings["activation_checkpointing"]
    checkpointing = profile.sft_activation_checkpointing if checkpointing is None else checkpointing

    class StepTimer(TrainerCallback):
        seconds: list[float] = []

        def on_step_begin(self, *args, **kwargs):
            self.began = time.perf_counter()

        def on_step_end(self, *args, **kwargs):
            self.seconds.append(time.perf_counter() - self.began)

    timer = StepTimer()
    args = sft_config(profile, Path(os.environ.get("TMPDIR", "/tmp")) / "course-benchmark-sft", max_steps=steps,
                      per_device_train_batch_size=micro, gradient_accumulation_steps=profile.sft_batch_size // micro,
                      activation_checkpointing=checkpointing)
    lora = sft_lora_config(lora_dropout=settings["lora_dropout"])
    trainer = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer, peft_config=lora,
                         callbacks=[timer])
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    tokens = max(entry.get("num_tokens", 0) for entry in trainer.state.log_history)
    steady = timer.seconds[1:] or timer.seconds
    step_seconds = sum(steady) / len(steady)
    if torch.cuda.is_available():
        peak_mb, kind = torch.cuda.max_memory_allocated() / 1e6, "CUDA max allocated"
    else:
        peak_mb, kind = peak_rss_mb(), "process RSS"
    return {"model": choice.name, "parameters": parameters, "micro_batch": micro, "checkpointing": checkpointing,
            "accumulation": profile.sft_batch_size // micro, "step_s": step_seconds, "first_step_s": timer.seconds[0],
            "tokens_per_step": tokens / steps, "tokens_per_s": tokens / steps / step_seconds,
            "peak_mb": peak_mb, "memory_kind": kind}


def sft_table(rows: dict[str, dict], gflops: float, profile: str, threads: int) -> str:
    lines = [f"# SFT throughput: bundled LLM, `{profile}` profile",
             "", f"float32 matmul: {gflops:.0f} GFLOP/s on {threads} threads; bound for LoRA = that / (4·N) tokens/s.", "",
             "| variant | e-mails per forward × accumulation | activation checkpointing | s per step | tokens per step | tokens/s | share of the bound | peak memory (MB) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} | | | | | | |")
            continue
        bound = gflops * 1e9 / (4 * r["parameters"])
        lines.append(f"| {name} | {r['micro_batch']} × {r['accumulation']} | {'on' if r['checkpointing'] else 'off'} | {r['step_s']:.2f} | {r['tokens_per_step']:.0f} | "
                     f"{r['tokens_per_s']:.0f} | {r['tokens_per_s'] / bound:.0%} | {r['peak_mb']:.0f} ({r['memory_kind']}) |")
    return "\n".join(lines) + "\n"


def benchmark_sft(profile: str, steps: int, out: Path) -> Path:
    import torch

    gflops, rows = matmul_gflops(), {}
    for name, settings in SFT_VARIANTS.items():
        print(f"{name} ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "course_utils.tools.benchmark", "sft-variant", json.dumps(settings),
                               "--profile", profile, "--steps", str(steps)], capture_output=True, text=True)
        if done.returncode:
            rows[name] = {"error": done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip() else f"exit {done.returncode}"}
        else:
            rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {rows[name]}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sft.json").write_text(json.dumps({"matmul_gflops": gflops, "threads": torch.get_num_threads(),
                                              "steps": steps, "variants": rows}, indent=2))
    (out / "sft.md").write_text(sft_table(rows, gflops, profile, torch.get_num_threads()))
    return out / "sft.md"


def choose_learning_rate(rows: list[dict]) -> dict:
    """The smallest learning rate whose validation accuracy is within two standard errors of the best one's."""
    best = max(rows, key=lambda r: r["validation_accuracy"])
    close = [r for r in rows if r["validation_accuracy"] >= best["validation_accuracy"] - 2 * best["standard_error"]]
    return min(close, key=lambda r: r["learning_rate"])


# recipe: (what trains, learning rates tried, labelled e-mails per intent, the profile's field that says how many epochs).
# k = None: the whole train split; k = lesson 01's few-shot run on k per intent for training.few_shot_steps.
LEARNING_RATE_RECIPES = {
    "head on a frozen encoder (HEAD_LEARNING_RATE)": ("head", (5e-4, 2e-3, 1e-2, 3e-2), None, "train_epochs"),
    "LoRA r=8 on query, value (ADAPTER_LEARNING_RATE)": ("lora", (1e-3, 3e-3, 1e-2), None, "train_epochs"),
    "full fine-tuning (the profile's learning_rate)": ("full", (3e-5, 1e-4, 3e-4), None, "train_epochs"),
    "head on a frozen encoder (lesson 06's budget)": ("head", (2e-3, 1e-2, 3e-2, 1e-1, 3e-1), None, "comparison_epochs"),
    "LoRA r=8 on query, value (lesson 06's budget)": ("lora", (1e-3, 3e-3, 1e-2, 3e-2), None, "comparison_epochs"),
    "full fine-tuning (lesson 06's budget)": ("full", (3e-5, 1e-4, 3e-4, 1e-3, 3e-3), None, "comparison_epochs"),
    "few-shot, pretrained, k=16 (lesson 01's FEW_SHOT_LEARNING_RATE)": ("full", (1e-4, 3e-4, 1e-3), 16, "train_epochs"),
    "few-shot, random init, k=62 (lesson 01's SCRATCH_LEARNING_RATE)": ("random", (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3), 62, "train_epochs"),
    "prefix tuning, 20 virtual tokens (lesson 06)": ("prefix", (1e-2, 3e-2, 1e-1, 3e-1), None, "comparison_epochs"),
    "prompt tuning, 20 virtual tokens (lesson 06)": ("prompt", (1e-2, 3e-2, 1e-1, 3e-1, 1.0), None, "comparison_epochs"),
    "(IA)3 (lesson 06)": ("ia3", (1e-2, 3e-2, 1e-1, 3e-1), None, "comparison_epochs"),
    "student, one layer in two, labels only (lesson 09's STUDENT_LEARNING_RATE)": ("student", (1e-4, 3e-4, 1e-3, 3e-3), None, "train_epochs"),
}


def benchmark_learning_rates(profile_name: str, out: Path, only: str = "") -> Path:
    import torch
    from datasets import DatasetDict
    from peft import IA3Config, PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from ..data import INTENTS, few_shot_subset, load_emails
    from ..models import model_path, resolve_model
    from ..profiles import resolve_profile
    from ..recipes import lora_config
    from ..stats import accuracy_standard_error
    from ..training import few_shot_steps, train_classifier

    profile = resolve_profile(profile_name)
    choice = resolve_model("encoder", profile)
    tokenizer = AutoTokenizer.from_pretrained(model_path(choice))
    emails = load_emails(profile)

    def build(kind: str):
        torch.manual_seed(0)
        if kind == "random":
            return AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(model_path(choice), num_labels=len(INTENTS)))
        model = AutoModelForSequenceClassification.from_pretrained(model_path(choice), num_labels=len(INTENTS))
        if kind == "head":
            model.base_model.requires_grad_(False)  # the encoder; the new classification head stays trainable
        if kind == "student":  # lesson 09's layer-dropped student: every other pretrained layer
            model.base_model.encoder.layer = model.base_model.encoder.layer[::2]
            model.config.num_hidden_layers = len(model.base_model.encoder.layer)
        adapters = {"lora": lora_config,  # the course's standard LoRA, as the lessons train it
                    "prefix": lambda: PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=20),
                    "prompt": lambda: PromptTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=20),
                    "ia3": lambda: IA3Config(task_type=TaskType.SEQ_CLS)}
        return get_peft_model(model, adapters[kind]()) if kind in adapters else model

    saved = out / "learning_rates.json"
    earlier = json.loads(saved.read_text()) if saved.is_file() else {}
    done = {(r["recipe"], r["learning_rate"]): r for r in earlier.get("rows", []) if earlier.get("model") == choice.name}
    rows = [r for r in done.values() if only not in r["recipe"]]  # recipes not asked for this time keep their rows
    for recipe, (kind, rates, k, epochs_field) in LEARNING_RATE_RECIPES.items():
        if only not in recipe:
            continue
        data = DatasetDict({**emails, "train": few_shot_subset(emails["train"], k, seed=k)} if k else emails)
        budget = {"max_steps": few_shot_steps(len(data["train"]), profile)} if k else {}
        if kind == "student":  # lesson 09's settings: the same steps for every student, batches by length, in two halves
            budget = {"max_steps": profile.distillation_steps, "train_sampling_strategy": "group_by_length",
                      "per_device_train_batch_size": profile.batch_size // 2, "gradient_accumulation_steps": 2}
        epochs = getattr(profile, epochs_field)
        length = f"{budget['max_steps']} steps" if "max_steps" in budget else f"{epochs:g} epochs"
        for rate in rates:
            if done.get((recipe, rate), {}).get("budget") == length:  # measured before at this budget
                rows.append(done[recipe, rate])
                continue
            print(f"{recipe}, {length}, learning rate {rate:g} ...", flush=True)
            run = train_classifier(build(kind), tokenizer, data, profile, name=recipe, learning_rate=rate,
                                   num_train_epochs=epochs, eval_splits=("validation",), **budget)
            accuracy = run.accuracy["validation"]
            rows.append({"recipe": recipe, "budget": length, "learning_rate": rate, "validation_accuracy": accuracy,
                         "standard_error": accuracy_standard_error(accuracy, len(data["validation"])),
                         "train_seconds": run.train_seconds})
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"model": choice.name, "rows": rows}, indent=2))
    lines = [f"# Learning rates on the validation split: {choice.name}, `{profile.name}` profile", "",
             f"{len(emails['validation'])} validation e-mails, one seed. Chosen (bold): the smallest rate within two "
             "standard errors of the best; a chosen rate at the end of its range means the range should grow.", "",
             "| recipe | budget | learning rate | validation accuracy | ± (1 s.e.) | training s |", "|---|---|---|---|---|---|"]
    for recipe in LEARNING_RATE_RECIPES:
        mine = sorted((r for r in rows if r["recipe"] == recipe), key=lambda r: r["learning_rate"])
        if not mine:
            continue
        chosen = choose_learning_rate(mine)
        for r in mine:
            mark = "**" if r is chosen else ""
            lines.append(f"| {recipe} | {r.get('budget', 'not recorded')} | {mark}{r['learning_rate']:g}{mark} | {r['validation_accuracy']:.3f} | "
                         f"{r['standard_error']:.3f} | {r['train_seconds']:.0f} |")
    (out / "learning_rates.md").write_text("\n".join(lines) + "\n")
    return out / "learning_rates.md"


def _grades(root: Path, lesson: str) -> tuple[dict[str, dict[str, float]], float]:
    """Every test cell's score for every submission of ``lesson`` in the gradebook (student -> grade id -> score),
    and the lesson's full marks."""
    from nbgrader.api import Gradebook

    from .instructor import gradebook_url

    with Gradebook(gradebook_url(root)) as gradebook:
        return ({submission.student.id: {grade.name: grade.score for notebook in submission.notebooks for grade in notebook.grades}
                 for submission in gradebook.assignment_submissions(lesson)}, gradebook.find_assignment(lesson).max_score)


def benchmark_grading(root: Path, lesson: str, submissions: int, jobs: list[int], repeats: int, sandbox: bool,
                      out: Path) -> list[dict]:
    """Grade the class for each ``jobs`` setting ``repeats`` times; write ``grading.md``/``.json`` to ``out``, return
    the runs (one row each)."""
    from . import instructor

    check_lessons(root, [lesson])
    rows, first = [], None
    with tempfile.TemporaryDirectory(prefix="course-grading-benchmark-") as scratch:
        released = instructor.copy_course(root, Path(scratch, "released"))
        instructor.release(released, [lesson])
        notebooks = {"full marks": solution_notebook(released, lesson), "zero": student_notebook(released, lesson)}
        for repeat in range(repeats):
            for n in jobs:
                course = shutil.copytree(released, Path(scratch, f"jobs-{n}-repeat-{repeat}"))
                expected = {}
                for i in range(submissions):
                    kind = list(notebooks)[i % 2]
                    student = f"student{i:03d}"
                    (course / "submitted" / student / lesson).mkdir(parents=True)
                    shutil.copy(notebooks[kind], course / "submitted" / student / lesson / f"{lesson}.ipynb")
                    expected[student] = kind
                print(f"jobs {n}, repeat {repeat + 1} of {repeats} ...", flush=True)
                start = time.perf_counter()
                report = instructor.autograde(course, lesson, sandbox=sandbox, jobs=n)
                seconds = time.perf_counter() - start
                grades, full_marks = _grades(course, lesson)
                first = first or grades
                right = len(report.graded) == submissions and all(
                    sum(grades.get(student, {}).values()) == (full_marks if kind == "full marks" else 0)
                    for student, kind in expected.items())
                rows.append({"jobs": n, "repeat": repeat + 1, "submissions": submissions, "graded": len(report.graded),
                             "seconds": round(seconds, 1), "per_minute": round(60 * submissions / seconds, 1),
                             "grades_right": right, "identical_to_first": grades == first, "problems": report.problems})
                print(f"  {rows[-1]}", flush=True)
                shutil.rmtree(course)
    threads = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}" if os.environ.get("OMP_NUM_THREADS") else "torch's default"
    out.mkdir(parents=True, exist_ok=True)
    (out / "grading.json").write_text(json.dumps({"lesson": lesson, "sandbox": sandbox, "cores": os.cpu_count(),
                                                  "threads_per_kernel": threads, "runs": rows}, indent=2))
    lines = [f"# Autograding throughput: {lesson}, {submissions} submissions, {'sandboxed' if sandbox else 'not sandboxed'}, "
             f"{os.cpu_count()} CPU cores", "", f"Threads per kernel: {threads}.", "",
             "| --jobs | repeat | graded | wall s | submissions per minute | every grade right | grades identical to the first run |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['jobs']} | {r['repeat']} | {r['graded']} of {r['submissions']} | {r['seconds']:.1f} | {r['per_minute']:.1f} | "
              f"{'yes' if r['grades_right'] else 'NO'} | {'yes' if r['identical_to_first'] else 'NO'} |" for r in rows]
    (out / "grading.md").write_text("\n".join(lines) + "\n")
    return rows


def lesson_budget(profile: str, lesson: str) -> tuple[int, int | None]:
    """(seconds, MB) one lesson may use on its first run under ``profile``."""
    seconds, megabytes = LESSON_BUDGETS[profile]
    return LONGER_BUDGETS.get((profile, lesson), seconds), megabytes


def judge(row: dict, profile: str) -> dict:
    """``row`` (from the runner) with its budgets, its peak (the larger of the kernel's peak RSS and the sampled peak
    of all its processes together) and whether it kept to them."""
    seconds, megabytes = lesson_budget(profile, row["lesson"])
    peak = max(row["peak_rss_mb"] or 0, row["all_processes_peak_mb"] or 0)
    return {**row, "budget_seconds": seconds, "budget_mb": megabytes, "peak_mb": peak,
            "within_time": row["status"] == "ok" and row["wall_seconds"] <= seconds,
            "within_memory": row["status"] == "ok" and (megabytes is None or peak <= megabytes)}


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _budget(seconds: int) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds} s"


def readme_cell(row: dict) -> str:
    """What README's lesson table says of one measured lesson: its time and peak, and any budget it broke."""
    if row["status"].startswith(("killed", "timed out")):
        cell = re.search(r"in cell (\d+)", row["status"])
        stopped = (f"killed at the {row['memory_cap_mb'] / 1000:g} GB memory cap" if row["status"].startswith("killed")
                   else "a cell timed out")
        return f"{stopped} after {_duration(row['wall_seconds'])}" + (f", in cell {cell[1]}" if cell else "")
    if row["status"] != "ok":
        return f"did not finish: {row['status'][:120]}"
    text = _duration(row["wall_seconds"]) + ("" if row["within_time"] else f" (over its {_budget(row['budget_seconds'])})")
    if row["budget_mb"] is not None:
        text += f", peak {row['peak_mb'] / 1000:.2f} GB" + ("" if row["within_memory"] else f" (over {row['budget_mb'] / 1000:g} GB)")
    return text


def update_readme_table(readme: str, profile: str, rows: list[dict]) -> str:
    """``readme`` with the lesson table's ``profile`` column rewritten from the benchmark's ``rows`` (lessons not
    measured keep their cells)."""
    lines, header, measured = readme.splitlines(keepends=True), None, {row["lesson"][:2]: row for row in rows}
    for i, line in enumerate(lines):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| # | lesson |"):
            if README_COLUMNS[profile] not in cells:
                raise ValueError(f"README.md's lesson table has no column {README_COLUMNS[profile]!r}: add it first")
            header = cells.index(README_COLUMNS[profile])
        elif header is not None and line.startswith("|") and cells[0] in measured:
            cells[header] = readme_cell(measured[cells[0]])
            lines[i] = "| " + " | ".join(cells) + " |\n"
        elif header is not None and not line.startswith("|"):
            break
    if header is None:
        raise ValueError("README.md has no lesson table (a line starting '| # | lesson |')")
    return "".join(lines)


def write_readme(root: Path, profile: str, rows: list[dict]) -> None:
    readme = root / "README.md"
    readme.write_text(update_readme_table(readme.read_text(), profile, rows))
    print(f"README.md: the '{README_COLUMNS[profile]}' column now holds {len(rows)} lessons' figures")


def lessons_table(rows: list[dict], profile: str, cap_mb: float | None, conversion_s: float | None) -> str:
    lines = [f"# Lessons, first run: `{profile}` profile, {os.cpu_count()} CPU cores", "",
             "Each lesson's solution notebook with an empty results cache of its own"
             + (f", its processes capped at {cap_mb:.0f} MB (killed above it, as on Binder)." if cap_mb else ", no memory cap.")
             + " All processes: the kernel and every process it starts, sampled every 0.1 s, as a container's memory limit charges them (shared library pages once).", "",
             f"Converting the bundled instruct LLM (once per install, before the lessons): "
             + (f"{conversion_s:.0f} s." if conversion_s is not None else "already done."), "",
             "| lesson | measured | status | wall time | time budget | kernel peak RSS (MB) | all processes peak (MB) | memory budget (MB) | within budget | memory peaked in |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        verdict = ("yes" if r["within_time"] and r["within_memory"] else ", ".join(
            [*(["NO: time"] if not r["within_time"] else []), *(["NO: memory"] if not r["within_memory"] else [])]))
        if r["status"] != "ok":  # its time and memory stop where it did
            verdict = {"killed": "NO: memory (killed)", "timed out": "NO: time (timed out)"}.get(
                r["status"].split(":")[0], "NO: it failed")
        where = f"cell {r['peak_cell']['cell']}: `{r['peak_cell']['first_line']}`" if r["peak_cell"] else ""
        lines.append(f"| {r['lesson']} | {r.get('measured', '')} | {r['status'][:160]} | {_duration(r['wall_seconds'])} | {_budget(r['budget_seconds'])} | "
                     f"{r['peak_rss_mb']} | {r['all_processes_peak_mb']} | {r['budget_mb'] or 'none'} | {verdict} | {where} |")
    lines += ["", "## Where the time goes: each lesson's three slowest cells", ""]
    for r in rows:
        slowest = sorted((c for c in r["cells"] if c["seconds"]), key=lambda c: -c["seconds"])[:3]
        lines.append(f"- **{r['lesson']}**: " + "; ".join(
            f"cell {c['cell']} `{c['first_line']}` {c['seconds']:.0f} s ({c['peak_mb']} MB)" for c in slowest))
    return "\n".join(lines) + "\n"


def benchmark_lessons(root: Path, lessons: list[str], profile: str, cap_mb: float | None, out: Path) -> list[dict]:
    """Run ``lessons`` as first runs (see the module's help); write ``lessons.md``/``.json`` to ``out``; return the rows."""
    from ..cache import CACHE_ENV, cache_root
    from ..models import converted_llm_dir, verified_llm_path
    from ..environment import environment_variables
    from .runner import run_lesson

    conversion_s = None
    if not (converted_llm_dir() / "model.safetensors").is_file():
        began = time.perf_counter()
        verified_llm_path()
        conversion_s = time.perf_counter() - began
    saved = out / "lessons.json"
    kept = {}  # the lessons measured before and not run now keep their rows, with the day they were measured
    if saved.is_file() and json.loads(saved.read_text())["profile"] == profile:
        kept = {row["lesson"]: row for row in json.loads(saved.read_text())["lessons"] if row["lesson"] not in lessons}
    rows = []
    with tempfile.TemporaryDirectory(prefix="course-lessons-benchmark-") as scratch:
        for lesson in lessons:
            cache = Path(scratch, lesson)
            cache.mkdir()
            (cache / "models").symlink_to(cache_root() / "models", target_is_directory=True)
            print(f"{lesson} under '{profile}' ...", flush=True)
            with environment_variables(**{CACHE_ENV: str(cache)}):
                row = run_lesson(root / SOURCE_DIR / lesson / f"{lesson}.ipynb", out / "executed" / f"{lesson}.ipynb",
                                 profile, memory_cap_mb=cap_mb)
            rows.append(judge(row, profile) | {"measured": date.today().isoformat()})
            print(f"  {row['status']} in {row['wall_seconds']} s, peak {rows[-1]['peak_mb']:.0f} MB", flush=True)
            table = sorted([*kept.values(), *rows], key=lambda r: r["lesson"])
            out.mkdir(parents=True, exist_ok=True)  # after every lesson: an interrupted run keeps what it measured
            saved.write_text(json.dumps({"profile": profile, "cores": os.cpu_count(), "memory_cap_mb": cap_mb,
                                         "llm_conversion_seconds": conversion_s, "lessons": table}, indent=2))
            (out / "lessons.md").write_text(lessons_table(table, profile, cap_mb, conversion_s))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.tools.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("lessons", "readme", "sft", "sft-variant", "learning-rates", "grading"))
    parser.add_argument("settings", nargs="*", help="lessons: the lesson folders (default: all); "
                                                    "sft-variant: one variant's settings as JSON")
    parser.add_argument("--memory-cap-mb", type=float, default=None,
                        help="lessons only: kill a lesson whose processes use more (default: the profile's budget; 0: none)")
    parser.add_argument("--readme", action="store_true", help="lessons only: write the figures into README.md's lesson table")
    parser.add_argument("--profile", default="cpu", choices=("tiny", "cpu", "gpu"))
    parser.add_argument("--steps", type=int, default=6, help="optimiser steps per variant (the first is left out)")
    parser.add_argument("--only", default="", help="learning-rates only: train the recipes whose name contains this "
                                                   "text (the table keeps the rows measured before for the others)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: runs/benchmark/<profile>; grading: runs/benchmark/grading)")
    parser.add_argument("--lesson", default="04_lora", help="grading only: the lesson graded")
    parser.add_argument("--submissions", type=int, default=8, help="grading only: submissions per run")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4], help="grading only: --jobs settings to time")
    parser.add_argument("--repeats", type=int, default=3, help="grading only: runs per --jobs setting")
    parser.add_argument("--sandbox", action="store_true", help="grading only: grade sandboxed (needs bubblewrap)")
    args = parser.parse_intermixed_args(argv)  # lessons before or after the options
    if args.steps < 2:
        parser.error("--steps must be at least 2: the first step warms up and is left out")
    if args.what == "sft-variant":
        print(json.dumps(run_sft_variant(json.loads(args.settings[0]), args.profile, args.steps)))
        return 0
    root = find_root()
    if args.what == "lessons":
        cap = LESSON_BUDGETS[args.profile][1] if args.memory_cap_mb is None else (args.memory_cap_mb or None)
        out = (args.out or root / "runs" / "benchmark" / args.profile).resolve()
        rows = benchmark_lessons(root, check_lessons(root, args.settings), args.profile, cap, out)
        if args.readme:
            write_readme(root, args.profile, rows)
        print(f"\n{(out / 'lessons.md').read_text()}\ntable: {out / 'lessons.md'}")
        return 0 if all(r["within_time"] and r["within_memory"] for r in rows) else 1
    if args.what == "readme":
        measured = (args.out or root / "runs" / "benchmark" / args.profile) / "lessons.json"
        if not measured.is_file():
            parser.error(f"no {measured}: run `python -m course_utils.tools.benchmark lessons --profile {args.profile}` first")
        write_readme(root, args.profile, [judge(row, args.profile) for row in json.loads(measured.read_text())["lessons"]])
        return 0
    if args.what == "grading":
        if args.submissions < 2 or min(args.jobs) < 1:
            parser.error("grade at least 2 submissions (one full marks, one zero) with --jobs of 1 or more")
        out = (args.out or root / "runs" / "benchmark" / "grading").resolve()
        rows = benchmark_grading(root, args.lesson, args.submissions, args.jobs, args.repeats, args.sandbox, out)
        print(f"\n{(out / 'grading.md').read_text()}\ntable: {out / 'grading.md'}")
        return 0 if all(r["grades_right"] and r["identical_to_first"] for r in rows) else 1
    out = (args.out or root / "runs" / "benchmark" / args.profile).resolve()
    if args.what == "learning-rates":
        table = benchmark_learning_rates(args.profile, out, args.only)
    else:
        table = benchmark_sft(args.profile, args.steps, out)
    print(f"\n{table.read_text()}\ntable: {table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
