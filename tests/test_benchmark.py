"""The benchmark command: its "lesson 08" rows measure the lesson's own settings, its tables are right, and the
learning rates the course uses are the ones it chose."""

from __future__ import annotations

import ast
import json
import re
from types import SimpleNamespace

import pytest

from conftest import ROOT
from course_utils.layout import solution_notebook
from course_utils.tools import benchmark


def _lesson_08_source() -> str:
    cells = json.loads(solution_notebook(ROOT, "08_instruction_tuning").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_the_lesson_rows_use_the_lessons_settings():
    """Lessons 08 and 09 and the benchmark take the SFT settings from one place (recipes); the benchmark's lesson row
    changes none of them."""
    from course_utils.recipes import sft_lora_config

    source = _lesson_08_source()
    assert "sft_lora_config()" in source and "sft_config(profile, " in source, "lesson 08 trains with the course's SFT recipe"
    assert "LoraConfig(" not in source and "SFTConfig(" not in source, "no second copy of the recipe's settings in lesson 08"
    assert benchmark.LESSON_SFT["lora_dropout"] == sft_lora_config().lora_dropout
    # None in the benchmark: the profile's value, which sft_config reads
    assert benchmark.LESSON_SFT["activation_checkpointing"] is None and benchmark.LESSON_SFT["micro_batch"] is None


def test_table_reports_the_share_of_the_flop_bound_and_failures():
    row = {"parameters": 1e9, "micro_batch": 1, "accumulation": 2, "checkpointing": False, "step_s": 2.0, "tokens_per_step": 100,
           "tokens_per_s": 50.0, "peak_mb": 1500.0, "memory_kind": "process RSS"}
    # 400 GFLOP/s over 4 FLOPs per parameter per token: a bound of 100 tokens/s, so 50 tokens/s is 50%
    table = benchmark.sft_table({"LoRA": row, "broken": {"error": "MemoryError"}}, gflops=400, profile="cpu", threads=2)
    assert "| LoRA | 1 × 2 | off | 2.00 | 100 | 50 | 50% | 1500 (process RSS) |" in table
    assert "| broken | failed: MemoryError |" in table


def test_steps_below_two_are_refused(capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["sft", "--steps", "1"])
    assert "at least 2" in capsys.readouterr().err


def test_the_learning_rate_rule_takes_the_smallest_rate_within_two_standard_errors_of_the_best():
    row = lambda rate, accuracy, se=0.01: {"learning_rate": rate, "validation_accuracy": accuracy, "standard_error": se}  # noqa: E731
    assert benchmark.choose_learning_rate([row(1e-4, 0.90), row(3e-4, 0.95), row(1e-3, 0.96)])["learning_rate"] == 3e-4
    assert benchmark.choose_learning_rate([row(1e-4, 0.50), row(3e-4, 0.95), row(1e-3, 0.80)])["learning_rate"] == 3e-4
    assert benchmark.choose_learning_rate([row(1e-4, 0.95), row(3e-4, 0.95)])["learning_rate"] == 1e-4


def test_the_courses_learning_rates_are_among_those_the_benchmark_tries():
    from course_utils.profiles import CPU
    from course_utils.recipes import ADAPTER_LEARNING_RATE, HEAD_LEARNING_RATE

    rates = {name.split(" (")[0]: tried for name, (_, tried, _, _) in benchmark.LEARNING_RATE_RECIPES.items()}
    assert HEAD_LEARNING_RATE in rates["head on a frozen encoder"]
    assert ADAPTER_LEARNING_RATE in rates["LoRA r=8 on query, value"]
    assert CPU.learning_rate in rates["full fine-tuning"]


def test_the_lessons_learning_rates_are_among_those_the_benchmark_tries():
    tried = {name: rates for name, (_, rates, _, _) in benchmark.LEARNING_RATE_RECIPES.items()}
    cells = lambda lesson: "\n".join("".join(c["source"]) for c in json.loads(solution_notebook(ROOT, lesson).read_text())["cells"])  # noqa: E731
    lesson_01 = re.search(r'FEW_SHOT_LEARNING_RATE = \{"pretrained weights": ([\d.e-]+), "random init \(same architecture\)": ([\d.e-]+)\}',
                          cells("01_pretraining_vs_finetuning"))
    assert lesson_01, "lesson 01 should keep its two few-shot learning rates in FEW_SHOT_LEARNING_RATE"
    assert float(lesson_01.group(1)) in next(r for n, r in tried.items() if n.startswith("few-shot, pretrained"))
    assert float(lesson_01.group(2)) in next(r for n, r in tried.items() if n.startswith("few-shot, random init"))
    lesson_06 = re.search(r"LEARNING_RATES = (\{.*?\})\n", cells("06_peft_comparison"))
    assert lesson_06, "lesson 06 should keep its methods' learning rates in one LEARNING_RATES dict"
    chosen = ast.literal_eval(lesson_06.group(1))
    recipes = {"head": "head on a frozen encoder (lesson 06", "full fine-tuning": "full fine-tuning (lesson 06",
               "LoRA": "LoRA r=8 on query, value (lesson 06", "prefix tuning": "prefix tuning", "prompt tuning": "prompt tuning",
               "(IA)3": "(IA)3"}
    assert set(chosen) == set(recipes), "every rate lesson 06 uses should come from a benchmark recipe"
    for method, rate in chosen.items():
        assert rate in next(r for n, r in tried.items() if n.startswith(recipes[method])), method


def test_learning_rates_only_retrains_the_recipes_asked_for_and_reuses_rows_measured_at_the_same_budget(tmp_path, monkeypatch):
    import course_utils.training as training
    from course_utils.models import resolve_model
    from course_utils.profiles import TINY

    calls = []

    def fake_train(model, tokenizer, data, profile, name, learning_rate, **kwargs):
        calls.append((name, learning_rate, kwargs["num_train_epochs"]))
        return SimpleNamespace(accuracy={"validation": {1e-2: 0.2, 3e-2: 0.9, 1e-1: 0.5, 3e-1: 0.1}[learning_rate]}, train_seconds=1.0)

    monkeypatch.setattr(training, "train_classifier", fake_train)
    head, ia3 = "head on a frozen encoder (HEAD_LEARNING_RATE)", "(IA)3 (lesson 06)"
    earlier = {"recipe": head, "budget": "1 epochs", "learning_rate": 1e-2, "validation_accuracy": 0.7, "standard_error": 0.03,
               "train_seconds": 5.0}
    same_budget = {**earlier, "recipe": ia3, "budget": f"{TINY.comparison_epochs:g} epochs", "validation_accuracy": 0.3}
    other_budget = {**same_budget, "learning_rate": 3e-2, "budget": "9 epochs"}
    (tmp_path / "learning_rates.json").write_text(json.dumps({"model": resolve_model("encoder", TINY).name,
                                                               "rows": [earlier, same_budget, other_budget]}))
    table = benchmark.benchmark_learning_rates("tiny", tmp_path, only="(IA)3").read_text()
    assert calls == [(ia3, rate, TINY.comparison_epochs) for rate in (3e-2, 1e-1, 3e-1)], \
        "lesson 06's budget; the row measured at it is reused, the one measured at another budget is not"
    assert f"| {head} | 1 epochs | **0.01** | 0.700 |" in table, "rows measured before for other recipes stay in the table"
    assert f"| {ia3} | 0.5 epochs | 0.01 | 0.300 |" in table and f"| {ia3} | 0.5 epochs | **0.03** | 0.900 |" in table
    assert json.loads((tmp_path / "learning_rates.json").read_text())["rows"][0] == earlier


def _lesson_row(lesson="04_lora", status="ok", seconds=200.0, rss=1500.0, together=1400.0) -> dict:
    return {"lesson": lesson, "status": status, "wall_seconds": seconds, "peak_rss_mb": rss, "all_processes_peak_mb": together,
            "memory_cap_mb": 2000, "measured": "2026-12-01",
            "peak_cell": {"cell": 30, "first_line": "qlora_run = train_classifier(", "seconds": 60.0, "peak_mb": together},
            "cells": [{"cell": 30, "first_line": "qlora_run = train_classifier(", "seconds": 60.0, "peak_mb": together}]}


@pytest.mark.parametrize("row, profile, within, cell", [
    (_lesson_row(), "cpu", (True, True), "3.3 min, peak 1.50 GB"),
    (_lesson_row(seconds=301), "cpu", (False, True), "5.0 min (over its 5 min), peak 1.50 GB"),
    (_lesson_row(lesson="08_instruction_tuning", seconds=400), "cpu", (True, True), "6.7 min, peak 1.50 GB"),
    (_lesson_row(rss=900, together=2100), "cpu", (True, False), "3.3 min, peak 2.10 GB (over 2 GB)"),  # the processes it started count
    (_lesson_row(status="killed: over the 2000 MB memory cap (DeadKernelError) in cell 22 (train())"), "cpu", (False, False),
     "killed at the 2 GB memory cap after 3.3 min, in cell 22"),
    (_lesson_row(status="timed out: a cell ran over 1800 s in cell 12 (EPOCHS = 2)", seconds=1812), "cpu", (False, False),
     "a cell timed out after 30.2 min, in cell 12"),
    (_lesson_row(status="failed in cell 7: ValueError: no"), "cpu", (False, False), "did not finish: failed in cell 7: ValueError: no"),
    (_lesson_row(seconds=40, rss=9000), "gpu", (True, True), "40 s"),  # gpu: RAM is not the budget
    (_lesson_row(seconds=40, together=2500), "tiny", (True, True), "40 s"),  # tiny: CI's time only
    (_lesson_row(seconds=61), "tiny", (False, True), "61 s (over its 1 min)"),
])
def test_each_lesson_is_judged_against_its_profiles_budgets(row, profile, within, cell):
    judged = benchmark.judge(row, profile)
    assert (judged["within_time"], judged["within_memory"]) == within
    assert benchmark.readme_cell(judged) == cell


def test_the_readme_table_gets_the_measured_figures_in_the_profiles_column_only():
    readme = (ROOT / "README.md").read_text()
    updated = benchmark.update_readme_table(readme, "cpu", [benchmark.judge(_lesson_row(), "cpu")])
    changed = [(old, new) for old, new in zip(readme.splitlines(), updated.splitlines()) if old != new]
    assert len(changed) == 1 and changed[0][0].startswith("| 04 |"), changed
    old, new = ([c.strip() for c in line.strip("|").split("|")] for line in changed[0])
    header = next(line for line in readme.splitlines() if line.startswith("| # | lesson |"))
    column = [c.strip() for c in header.strip("|").split("|")].index(benchmark.README_COLUMNS["cpu"])
    assert new[column] == "3.3 min, peak 1.50 GB" and old[:column] == new[:column] and old[column + 1:] == new[column + 1:]
    with pytest.raises(ValueError, match="no column"):
        benchmark.update_readme_table(readme.replace(benchmark.README_COLUMNS["cpu"], "cpu"), "cpu", [])


def test_the_lessons_table_names_broken_budgets_and_where_memory_peaked():
    rows = [benchmark.judge(_lesson_row(), "cpu"), benchmark.judge(_lesson_row(lesson="05_qlora", seconds=400, together=2500), "cpu"),
            benchmark.judge(_lesson_row(lesson="10_beyond_one_device", seconds=12, status="killed: over the cap in cell 14"), "cpu")]
    table = benchmark.lessons_table(rows, "cpu", 2000, None)
    assert "| 10_beyond_one_device | 2026-12-01 | killed: over the cap in cell 14 | 12 s | 5 min | 1500.0 | 1400.0 | 2000 | NO: memory (killed) |" in table
    assert "| 04_lora | 2026-12-01 | ok | 3.3 min | 5 min | 1500.0 | 1400.0 | 2000 | yes | cell 30: `qlora_run = train_classifier(` |" in table
    assert "| 05_qlora | 2026-12-01 | ok | 6.7 min | 5 min | 1500.0 | 2500 | 2000 | NO: time, NO: memory |" in table


def test_rerunning_some_lessons_keeps_the_other_lessons_rows(tmp_path, monkeypatch):
    from course_utils.tools import runner

    (tmp_path / "llm").mkdir()
    (tmp_path / "llm" / "model.safetensors").touch()  # the LLM is "already converted"
    monkeypatch.setattr("course_utils.models.converted_llm_dir", lambda: tmp_path / "llm")
    monkeypatch.setattr(runner, "run_lesson", lambda notebook, *args, **kwargs: _lesson_row(lesson=notebook.stem, seconds=100.0))
    earlier = [benchmark.judge(_lesson_row(lesson=lesson), "cpu") for lesson in ("00_setup", "04_lora")]
    (tmp_path / "lessons.json").write_text(json.dumps({"profile": "cpu", "lessons": earlier}))
    rows = benchmark.benchmark_lessons(ROOT, ["04_lora", "05_qlora"], "cpu", 2000, tmp_path)
    assert [r["lesson"] for r in rows] == ["04_lora", "05_qlora"], "the rows of this run, for its exit code and README"
    saved = json.loads((tmp_path / "lessons.json").read_text())["lessons"]
    assert [(r["lesson"], r["wall_seconds"]) for r in saved] == [("00_setup", 200.0), ("04_lora", 100.0), ("05_qlora", 100.0)]
    assert saved[0]["measured"] == "2026-12-01" and saved[1]["measured"] == saved[2]["measured"] != "2026-12-01"
    assert "| 00_setup | 2026-12-01 | ok |" in (tmp_path / "lessons.md").read_text()


def test_readme_without_a_lessons_run_says_what_to_run_first(tmp_path, capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["readme", "--profile", "tiny", "--out", str(tmp_path)])
    assert "benchmark lessons --profile tiny` first" in capsys.readouterr().err
