"""The benchmark command: its "lesson 08" rows measure the lesson's own settings, and its table is right."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT
from course_utils import benchmark
from course_utils.layout import solution_notebook


def _lesson_08_source() -> str:
    cells = json.loads(solution_notebook(ROOT, "08_instruction_tuning").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_the_lesson_rows_use_the_lessons_settings():
    source = _lesson_08_source()
    dropout = re.search(r"lora_config = LoraConfig\(.*?lora_dropout=([\d.]+)", source, re.S)
    assert dropout, "lesson 08 should set lora_dropout explicitly"
    assert benchmark.LESSON_SFT["lora_dropout"] == float(dropout.group(1))
    # None in the benchmark: the profile's value, as the lesson reads it
    assert benchmark.LESSON_SFT["activation_checkpointing"] is None and benchmark.LESSON_SFT["micro_batch"] is None
    assert "activation_checkpointing=profile.sft_activation_checkpointing" in source
    assert "per_device_train_batch_size=profile.sft_micro_batch_size" in source


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
