"""Run profiles: one notebook, three sizes.

A lesson reads every size it needs (examples, steps, sequence length, model roles) from the active
:class:`Profile`; the code path never branches on the profile's name. Resolution order: the
notebook's papermill parameter ``PROFILE`` > the ``COURSE_PROFILE`` environment variable > auto
(a CUDA GPU gives ``gpu``, anything else ``cpu``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Profile:
    """Sizes and model roles for one kind of machine. Lessons read fields; they never test ``name``."""

    name: str
    description: str
    budget: str                 # what a lesson should cost under this profile
    allow_hub_models: bool      # may the model registry use hub models (when online)?
    use_gpu: bool               # put models and batches on the CUDA GPU (when there is one)
    train_examples: int         # e-mails used for training (the shipped train split has 500)
    eval_examples: int          # e-mails per evaluation split (test / shifted_test have 400)
    max_seq_length: int         # tokens per e-mail after truncation
    batch_size: int
    train_epochs: float
    learning_rate: float        # full fine-tuning (cpu: chosen on validation, python -m course_utils.tools.benchmark learning-rates)
    pretrain_steps: int         # lesson 01: steps of from-scratch pre-training
    few_shot_k: tuple[int, ...]  # lesson 01/07: labelled examples per class to try
    few_shot_steps: int         # lessons 01/05/07: optimiser steps per causal-LM run; the fewest per few-shot run
    few_shot_epochs: float      # lessons 01/07: passes over a few-shot run's examples, when that is more steps
    training_seeds: int         # lessons 01/06/07: training runs (seeds 0, 1, ...) behind each comparison they draw (tiny: 2, so CI runs the repeats; cpu: 1, to fit 5 minutes)
    comparison_epochs: float    # lesson 06: passes over the training e-mails, the one budget every method trains for
    llm_eval_examples: int      # lesson 08: e-mails per evaluation split the LLM answers
    sft_steps: int              # lesson 08: optimiser steps of instruction tuning (LoRA and QLoRA alike)
    sft_batch_size: int         # lesson 08: e-mails per instruction-tuning (optimiser) step
    sft_micro_batch_size: int   # lesson 08: e-mails per forward pass (sft_batch_size / this = gradient accumulation)
    sft_activation_checkpointing: bool  # lesson 08: recompute activations in backward (less memory, more time)
    llm_new_tokens: int         # lesson 08: most tokens an LLM may generate per reply (a triage JSON is ~25)
    lora_ranks: tuple[int, ...]  # lesson 04: ranks in the accuracy-vs-rank sweep
    unlabelled_examples: int    # lesson 09: unlabelled e-mails a teacher labels for its student
    distillation_steps: int     # lesson 09: optimiser steps of every student run (one budget for all, batch_size e-mails each)
    llm_teacher_examples: int   # lesson 09: e-mails per split (train, test, shifted_test) the LLM teacher scores
    distributed_steps: int      # lesson 10: optimiser steps of the Trainer run on 1 and on 2 processes (batch_size e-mails each)
    # Model per role: "bundled" (the shipped MiniLM / SmolLM2) or a hub id (used when the profile allows it and the hub answers).
    encoder_model: str
    causal_lm_model: str

    @property
    def device(self) -> str:
        """Where lessons put models and batches (and read peak memory from): "cuda" or "cpu"."""
        import torch

        return "cuda" if self.use_gpu and torch.cuda.is_available() else "cpu"


TINY = Profile(
    name="tiny", description="CI and quick checks: offline, seconds per step",
    budget="<= 60 s per lesson on 2 CPU cores", allow_hub_models=False, use_gpu=False,
    train_examples=64, eval_examples=64, max_seq_length=64, batch_size=16, train_epochs=1,
    learning_rate=1e-4, pretrain_steps=20, few_shot_k=(1, 4), few_shot_steps=4, few_shot_epochs=1, training_seeds=2, comparison_epochs=0.5,
    llm_eval_examples=1,
    sft_steps=1, sft_batch_size=1, sft_micro_batch_size=1,
    sft_activation_checkpointing=False, llm_new_tokens=8, lora_ranks=(1, 8),
    unlabelled_examples=32, distillation_steps=4, llm_teacher_examples=4, distributed_steps=4,
    encoder_model="bundled", causal_lm_model="bundled",
)
CPU = Profile(
    name="cpu", description="laptop or Binder: the bundled encoder, all of the course data",
    budget="<= 5 min per lesson on 2 cores, <= 2 GB RAM", allow_hub_models=True, use_gpu=False,
    train_examples=500, eval_examples=400, max_seq_length=128, batch_size=16, train_epochs=4,
    learning_rate=1e-4, pretrain_steps=300, few_shot_k=(1, 4, 16, 62), few_shot_steps=20, few_shot_epochs=2, training_seeds=1, comparison_epochs=1,
    llm_eval_examples=12,
    sft_steps=16, sft_batch_size=2, sft_micro_batch_size=1,
    sft_activation_checkpointing=True, llm_new_tokens=32, lora_ranks=(1, 8, 64),
    unlabelled_examples=500, distillation_steps=56, llm_teacher_examples=16, distributed_steps=40,
    encoder_model="bundled", causal_lm_model="bundled",
)
GPU = Profile(
    name="gpu", description="Colab T4 16 GB or RTX 3090/4090 24 GB: hub models, longer runs",
    budget="<= 15 min per lesson on a T4", allow_hub_models=True, use_gpu=True,
    train_examples=500, eval_examples=400, max_seq_length=256, batch_size=32, train_epochs=5,
    learning_rate=3e-5, pretrain_steps=2000, few_shot_k=(1, 2, 4, 8, 16, 32, 62), few_shot_steps=100, few_shot_epochs=5, training_seeds=3, comparison_epochs=2.5,
    llm_eval_examples=400,
    sft_steps=250, sft_batch_size=8, sft_micro_batch_size=8,
    sft_activation_checkpointing=False, llm_new_tokens=32,
    lora_ranks=(1, 2, 4, 8, 16, 32, 64),
    unlabelled_examples=2000, distillation_steps=600, llm_teacher_examples=400, distributed_steps=200,
    encoder_model="FacebookAI/roberta-base", causal_lm_model="Qwen/Qwen2.5-0.5B-Instruct",
)
PROFILES: dict[str, Profile] = {p.name: p for p in (TINY, CPU, GPU)}


def resolve_profile(requested: str | Profile | None = None) -> Profile:
    """Return the active profile: ``requested`` > ``$COURSE_PROFILE`` > auto (CUDA -> gpu, else cpu)."""
    if isinstance(requested, Profile):
        return requested
    name = requested or os.environ.get("COURSE_PROFILE") or None
    if name is None:
        import torch

        name = "gpu" if torch.cuda.is_available() else "cpu"
    key = str(name).strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r}: use one of {', '.join(PROFILES)} "
            "(set PROFILE in the notebook's first cell or the COURSE_PROFILE environment variable)."
        )
    return PROFILES[key]


def profiles_table() -> "pandas.DataFrame":  # noqa: F821 - pandas is imported lazily
    """All profiles side by side, one column each, for display in a notebook."""
    import pandas as pd

    return pd.DataFrame({p.name: asdict(p) for p in PROFILES.values()}).drop(index="name")
