import pytest

from course_utils.cache import cache_dir, cached
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
    assert cache_dir("tiny") == tmp_path / "tiny"


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
