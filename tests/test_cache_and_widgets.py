import os
from pathlib import Path

import pytest

from course_utils.cache import RESULTS_VERSION, cache_dir, cached
from course_utils.widgets import lora_budget, lora_rank_explorer

GROUPS = {"attention.self.query": [(4, 4)] * 2, "intermediate.dense": [(4, 16)] * 2}


def count(d_in, d_out, r):
    return r * (d_in + d_out)


def test_cached_computes_once_per_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    calls = []
    compute = lambda: calls.append(1) or {"r": 8}  # noqa: E731
    assert cached("sweep", "tiny", compute) == {"r": 8}
    assert cached("sweep", "tiny", compute) == {"r": 8}
    assert len(calls) == 1, "the second call must read the cache"
    cached("sweep", "cpu", compute)
    assert len(calls) == 2, "profiles have separate caches"
    cached("sweep", "tiny", compute, refresh=True)
    assert len(calls) == 3
    assert cache_dir("tiny") == tmp_path / f"results-v{RESULTS_VERSION}" / "tiny"


def test_cached_misses_when_anything_that_produced_the_result_changes(tmp_path, monkeypatch):
    import dataclasses
    import shutil

    from peft import LoraConfig

    from course_utils import cache, profiles

    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    calls = []

    def run(*depends_on, name="06_LoRA r=8 (q, v)"):
        return cached(name, "tiny", lambda: calls.append(1) or len(calls), depends_on=depends_on)

    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"])
    assert run("encoder", lora, 3e-3, 0) == 1
    assert run("encoder", LoraConfig(r=8, lora_alpha=16, target_modules=["value", "query"]), 3e-3, 0) == 1, \
        "the same settings (a set's order aside) read the result back"
    assert run("encoder", LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"]), 3e-3, 0) == 2, \
        "a changed library setting (LoRA dropout) computes it again"
    assert run("encoder", lora, 1e-3, 0) == 3, "a changed learning rate computes it again"
    assert run("encoder", lora, 3e-3, 1) == 4, "another seed computes it again"
    assert run("encoder", lora, 3e-3, 0, name="07_LoRA r=8 (q, v)") == 5, "another lesson's result is its own"

    monkeypatch.setitem(profiles.PROFILES, "tiny", dataclasses.replace(profiles.TINY, train_epochs=profiles.TINY.train_epochs + 1))
    assert run("encoder", lora, 3e-3, 0) == 6, "a changed profile setting computes it again"
    monkeypatch.setitem(profiles.PROFILES, "tiny", profiles.TINY)
    assert run("encoder", lora, 3e-3, 0) == 1, "and the old result is still there for the old setting"

    # A field added to the record the training code returns (the stale-RunRecord bug): the key changes.
    package = tmp_path / "package"
    shutil.copytree(cache._PACKAGE / "data" / "emails", package / "data" / "emails")
    shutil.copy(cache._PACKAGE / "recipes.py", package / "recipes.py")
    training = (cache._PACKAGE / "training.py").read_text()
    assert "    optimizer_mb: float = 0.0\n" in training
    (package / "training.py").write_text(training.replace("    optimizer_mb: float = 0.0\n",
                                                          "    optimizer_mb: float = 0.0\n    activations_mb: float = 0.0\n"))
    monkeypatch.setattr(cache, "_PACKAGE", package)
    cache.code_and_data_digest.cache_clear()
    try:
        assert run("encoder", lora, 3e-3, 0) == 7, "a changed RunRecord computes it again"
        (package / "recipes.py").write_text((package / "recipes.py").read_text().replace("WARMUP_RATIO = 0.1", "WARMUP_RATIO = 0.2"))
        cache.code_and_data_digest.cache_clear()
        assert run("encoder", lora, 3e-3, 0) == 8, "a changed shared setting (the warm-up) computes it again"
    finally:
        cache.code_and_data_digest.cache_clear()


def test_a_cache_key_refuses_what_has_no_stable_form():
    with pytest.raises(TypeError, match="pass the settings"):
        cached("run", "tiny", lambda: 1, depends_on=(lambda: 0,))


def test_lora_budget_adds_up_the_chosen_layers():
    budget = lora_budget(GROUPS, ["attention.self.query"], 2, count, total_params=1000)
    assert budget["trainable_params"] == 2 * 2 * (4 + 4) and budget["layers"] == 2
    assert budget["percent_of_model"] == pytest.approx(3.2) and budget["adapter_mb"] == pytest.approx(32 * 4 / 1e6)
    both = lora_budget(GROUPS, list(GROUPS), 2, count, total_params=1000)
    assert both["trainable_params"] == 32 + 2 * 2 * (4 + 16)
    with pytest.raises(ValueError, match="choose from"):
        lora_budget(GROUPS, ["query"], 2, count, 1000)


def test_rank_explorer_builds_and_reacts():
    panel = lora_rank_explorer(GROUPS, count, 1000, sweep={1: 0.5, 8: 0.8},
                               default_targets=("attention.self.query",))
    slider, boxes = panel.children[0], panel.children[1].children
    assert slider.min == 1 and slider.max == 64 and len(boxes) == len(GROUPS)
    view = panel.children[2]
    assert "r=8 on 2 layers: 128 trainable" in view.value and "<img" in view.value
    slider.value = 16
    assert "r=16 on 2 layers" in view.value
    boxes[1].value = True
    assert "on 4 layers" in view.value
    boxes[0].value = boxes[1].value = False
    assert "Tick at least one" in view.value


def test_quantisation_explorer_calls_the_round_trip_per_setting():
    import torch

    from course_utils.widgets import quantisation_explorer

    calls = []

    def round_trip(x, bits, scheme):
        calls.append((bits, scheme))
        return x + 0.5 if scheme == "int" else x

    panel = quantisation_explorer(torch.zeros(128), round_trip)
    bits, scheme, view = panel.children
    assert calls == [(4, "nf")] and "mean |error| 0.00000" in view.value
    assert "128 weights take 0.1 KB" in view.value and "<img" in view.value
    scheme.value = "int"
    assert calls[-1] == (4, "int") and "mean |error| 0.50000" in view.value
    bits.value = 8
    assert calls[-1] == (8, "int")


def test_memory_planner_shows_every_method_and_a_verdict():
    from course_utils.architectures import ArchitectureShape
    from course_utils.recipes import TRAINING_METHODS
    from course_utils.widgets import memory_planner

    shape = ArchitectureShape("toy", 4, 2, 10, {"self_attn.q_proj": [(4, 4)], "mlp.up_proj": [(4, 8)]}, 100)
    seen = []

    def estimate(shape, method, rank, targets, seq_len, batch, grad_checkpointing, double_quant):
        seen.append((method, rank, targets))
        return {"weights": 10.0 if method == "qlora_nf4" else 30.0, "gradients": 1.0, "optimizer": 2.0, "activations": 0.5}

    panel = memory_planner(estimate, {"toy": shape})
    first_row, second_row, view = panel.children
    assert {m for m, _, _ in seen} == set(TRAINING_METHODS)
    assert "toy, qlora_nf4</b>: 13.5 GB" in view.value and "fits on: T4" in view.value
    method, rank, targets = first_row.children[1:4]
    method.value = "full_fp32"
    assert "33.5 GB" in view.value and "fits on: A100 40GB, A100 80GB" in view.value
    targets.value = "attention q, v"
    assert seen[-1][2] == ("self_attn.q_proj",)
    rank.value = 64
    assert seen[-1][1] == 64


def test_sharding_planner_shows_every_gpu_count_and_the_fewest_gpus_that_hold_the_states():
    from course_utils.architectures import ArchitectureShape
    from course_utils.widgets import sharding_planner

    shape = ArchitectureShape("toy", 4, 2, 10, {"self_attn.q_proj": [(4, 4)]}, 100)
    seen = []

    def estimate(shape, method, n_gpus, stage, rank):
        seen.append((method, n_gpus, stage, rank))
        return {"parameters": 60.0 / n_gpus, "gradients": 30.0 / n_gpus if stage >= 2 else 30.0, "optimizer": 10.0}

    panel = sharding_planner(estimate, {"toy": shape}, methods=("full_mixed", "lora_bf16"))
    first_row, second_row, view = panel.children
    assert [n for _, n, _, _ in seen] == [1, 2, 4, 8] and {s for _, _, s, _ in seen} == {3}
    assert "1 GPU 100.0 GB; 2 GPUs 55.0 GB; 4 GPUs 32.5 GB; 8 GPUs 21.2 GB" in view.value
    assert "fit on 8× RTX 3090/4090, 4× A100 40GB, 2× A100 80GB" in view.value and "T4" not in view.value.split("</p>")[0]
    stage, rank = second_row.children
    stage.value = 1
    assert "8 GPUs 47.5 GB" in view.value and "fit on 2× A100 80GB" in view.value
    rank.value = 64
    first_row.children[1].value = "lora_bf16"
    assert seen[-1] == ("lora_bf16", 8, 1, 64)


def test_fingerprint_follows_what_a_result_depends_on():
    from course_utils.cache import fingerprint

    rows = [{"prompt": "a", "completion": "b"}]
    assert fingerprint(rows, 5e-4) == fingerprint([dict(rows[0])], 5e-4), "equal data and settings, equal key"
    assert fingerprint(rows, 5e-4) != fingerprint(rows, 1e-3), "a changed setting trains again"
    assert fingerprint(rows, 5e-4) != fingerprint([{"prompt": "a", "completion": "c"}], 5e-4), "changed data trains again"
    assert len(fingerprint(Path("weights"))) == 12, "anything without a JSON form is hashed by its str"
    with pytest.raises(TypeError, match="pass the settings"):
        fingerprint(object())  # its str holds a memory address: the key would change every run


def test_fingerprint_of_a_set_is_the_same_in_every_process():
    import subprocess
    import sys

    code = "from course_utils.cache import fingerprint; print(fingerprint({'query', 'key', 'value', 'dense', 'output'}))"
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(4)}
    assert len(digests) == 1, "a set's order changes with the hash seed; its key must not"
