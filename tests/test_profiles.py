import dataclasses

import pytest

from course_utils.profiles import CPU, GPU, PROFILES, TINY, resolve_profile, profiles_table


def test_parameter_beats_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    assert resolve_profile("tiny") is TINY
    assert resolve_profile(None) is CPU


def test_auto_detection_follows_cuda(monkeypatch):
    import torch

    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_profile() is GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_profile() is CPU


def test_names_are_case_insensitive_and_profiles_pass_through():
    assert resolve_profile(" GPU ") is GPU
    assert resolve_profile(TINY) is TINY


def test_unknown_profile_says_what_to_use(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "huge")
    with pytest.raises(ValueError, match="tiny, cpu, gpu"):
        resolve_profile()


def test_profiles_are_frozen_and_grow_in_size():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TINY.batch_size = 1  # type: ignore[misc]
    assert TINY.train_examples < CPU.train_examples <= GPU.train_examples
    assert TINY.pretrain_steps < CPU.pretrain_steps < GPU.pretrain_steps
    assert not TINY.allow_hub_models, "tiny must stay offline"
    for profile in PROFILES.values():
        assert profile.sft_batch_size % profile.sft_micro_batch_size == 0, \
            f"{profile.name}: an SFT step accumulates whole micro-batches"
    assert set(profiles_table().columns) == set(PROFILES)


def test_only_the_gpu_profile_puts_lessons_on_a_gpu_and_only_when_there_is_one(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert [p.device for p in PROFILES.values()] == ["cpu", "cpu", "cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert {p.device for p in PROFILES.values()} == {"cpu"}, "the gpu profile on a machine without CUDA runs on the CPU"
