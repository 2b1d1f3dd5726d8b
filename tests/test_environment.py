import pytest

from conftest import pretend_installed
from course_utils import environment
from course_utils.environment import check_versions, detect_platform, is_online
from course_utils.lock import locked_versions


def test_hf_hub_offline_means_offline_without_touching_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(environment.socket, "create_connection",
                        lambda *a, **k: pytest.fail("must not connect when HF_HUB_OFFLINE=1"))
    assert is_online() is False


def test_unreachable_hub_is_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(environment.socket, "create_connection", refuse)
    assert is_online() is False


@pytest.mark.parametrize("variable, expected", [("COLAB_RELEASE_TAG", "colab"), ("BINDER_SERVICE_HOST", "binder")])
def test_platform_detection(monkeypatch, variable, expected):
    for name in ("COLAB_RELEASE_TAG", "BINDER_SERVICE_HOST", "BINDER_REQUEST"):
        monkeypatch.delenv(name, raising=False)
    assert detect_platform() == "local"
    monkeypatch.setenv(variable, "x")
    assert detect_platform() == expected


@pytest.mark.lock
def test_installed_versions_match_the_lock():
    table = check_versions()
    assert {"torch", "transformers", "peft", "bitsandbytes", "ipywidgets"} <= set(table.index)
    assert (table["status"] == "ok").all(), table[table["status"] != "ok"]
    assert not {"pytest", "nbgrader", "papermill", "jupyterlab"} & set(table.index), \
        "the test and instructor extras are not required to follow the course"


@pytest.mark.parametrize("name, version", [("transformers", "5.24.0"), ("transformers", "5.10.0"), ("tokenizers", "0.1.0"),
                                           ("sympy", "1.0")])
def test_a_version_other_than_the_locks_says_how_to_fix(monkeypatch, name, version):
    pretend_installed(monkeypatch, "torch", locked_versions()["torch"])  # the lock's torch: sympy is then the course's
    pretend_installed(monkeypatch, name, version)
    row = check_versions().loc[name]
    assert row["installed"] == version and row["status"] == f"fix: pip install '{name}=={locked_versions()[name]}'"


def test_a_torch_build_of_your_own_in_range_is_fine_and_out_of_range_is_not(monkeypatch):
    pretend_installed(monkeypatch, "torch", "2.9.0+cu126")
    row = check_versions().loc["torch"]
    assert row["status"] == "ok" and row["installed"] == "2.9.0+cu126 (your own build)"
    pretend_installed(monkeypatch, "torch", "2.15.0")
    assert check_versions().loc["torch", "status"] == f"fix: pip install 'torch=={locked_versions()['torch']}'"


def test_detect_environment_on_this_machine(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    env = environment.detect_environment()
    assert env.cpu_count >= 1 and env.ram_gb > 0 and not env.online
    assert env.accelerator_memory_gb == (env.gpu_memory_gb or env.ram_gb)
    assert "CPU cores" in env.summary()


def test_markdown_table_renders_index_columns_and_rounded_floats():
    import pandas as pd

    from course_utils.lesson import markdown_table

    frame = pd.DataFrame({"accuracy": [0.91234, 0.5], "n": [10, 4]}, index=pd.Index(["formal", "terse"], name="style"))
    assert markdown_table(frame).splitlines() == ["| style | accuracy | n |", "|---|---|---|",
                                                  "| formal | 0.912 | 10 |", "| terse | 0.500 | 4 |"]
    assert markdown_table(frame["n"]).splitlines()[0] == "| style | n |"


def test_what_only_your_own_torch_needs_is_yours_and_test_extras_are_not_checked(monkeypatch):
    pretend_installed(monkeypatch, "torch", "2.9.0+cu126")
    pretend_installed(monkeypatch, "sympy", "1.0")  # torch's own dependency: a CUDA build may need another
    table = check_versions()
    assert "sympy" not in table.index and table.loc["torch", "status"] == "ok", table
    pretend_installed(monkeypatch, "pytest", "7.0.0")  # an optional extra (tests) at another version
    assert "pytest" not in check_versions().index


START_TWICE = '''
import random, sys
import numpy as np, torch
from course_utils.lesson import start_lesson
draws = []
for _ in range(2):
    start_lesson("10_beyond_one_device", "tiny", seed=3)
    draws.append((random.random(), float(np.random.rand()), torch.rand(2).tolist()))
assert draws[0] == draws[1], draws
heavy = [m for m in ("peft", "bitsandbytes") if m in sys.modules]
assert not heavy, f"starting a lesson imported {heavy}"
print("SEEDED")
'''


def test_a_lesson_starts_seeded_without_importing_the_adapter_libraries():
    """Every generator is seeded, and nothing drags in peft and bitsandbytes (90 MB a process) for a lesson that
    trains no adapter (lesson 10's kernel beside two ranks on Binder's 2 GB)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", START_TWICE], capture_output=True, text=True, timeout=300)
    assert "SEEDED" in result.stdout, result.stderr[-3000:]
