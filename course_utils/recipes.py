"""The course's shared experiment settings, defined once: every lesson that names one uses it from here.

Learning rates (chosen on the validation split), the warm-up schedule, the standard LoRA configuration
("LoRA r=8 (q, v)" means the same thing in every lesson), QLoRA's 4-bit quantisation, the training
methods lesson 05's memory planner compares, and lesson 08's instruction tuning (which lesson 09's LLM teacher
and the ``sft`` benchmark reuse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from peft import LoraConfig
    from transformers import BitsAndBytesConfig
    from trl import SFTConfig

    from .profiles import Profile

# Learning rates chosen on the validation split, never on test, by `python -m course_utils.tools.benchmark learning-rates`
# (cpu profile, the bundled MiniLM, one seed, 200 validation e-mails; the rule: the smallest rate within two
# standard errors of the best). A head starting from scratch on a frozen backbone needs large steps: validation
# accuracy 0.675 at 2e-3, 0.760 at 1e-2, 0.785 at 3e-2.
HEAD_LEARNING_RATE = 1e-2
# Adapters trained from zero (LoRA's B = 0) on a frozen encoder, LoRA r=8 on query and value for the profile's
# epochs: validation accuracy 0.850 at 1e-3, 0.955 at 3e-3, 0.970 at 1e-2.
ADAPTER_LEARNING_RATE = 3e-3
# Lesson 09's students (the encoder with one layer in two, as DistilBERT) trained on labels for the profile's
# distillation_steps (cpu: 56) with the lesson's batching (by length, each batch in two halves): validation accuracy
# 0.530 at 1e-4, 0.835 at 3e-4, 0.875 at 1e-3, 0.350 at 3e-3.
STUDENT_LEARNING_RATE = 3e-4
# Share of the optimiser steps over which train_classifier's learning rate warms up from zero (then it decays linearly).
WARMUP_RATIO = 0.1

# The course's standard LoRA: rank 8 on BERT's query and value projections (the attention weights the LoRA paper
# adapts, Hu et al. 2021, arXiv:2106.09685), alpha = 2r, dropout 0.1 (peft's default is 0.0).
LORA_RANK = 8
LORA_ALPHA = 2 * LORA_RANK
LORA_DROPOUT = 0.1
LORA_TARGETS = ("query", "value")

# The ways of training lesson 05's memory planner compares: full fine-tuning in fp32 or mixed precision, LoRA on a
# bf16 base, QLoRA on an NF4 base.
TRAINING_METHODS = ("full_fp32", "full_mixed", "lora_bf16", "qlora_nf4")


def lora_config(**overrides) -> LoraConfig:
    """The standard LoRA as a peft ``LoraConfig`` for sequence classification; ``LoraConfig``'s own keyword
    arguments override any setting (``target_modules="all-linear"``, ``task_type=TaskType.CAUSAL_LM``, ``r=16``)."""
    from peft import LoraConfig, TaskType

    settings = dict(task_type=TaskType.SEQ_CLS, r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT,
                    target_modules=list(LORA_TARGETS))
    return LoraConfig(**{**settings, **overrides})


def nf4_config(skip_modules: tuple[str, ...] = ()) -> BitsAndBytesConfig:
    """QLoRA's quantisation: NF4 in blocks of 64 with double quantisation, computing in bfloat16 where the GPU
    supports it and float32 otherwise (CPU). ``skip_modules`` stay in full precision (e.g. a new head)."""
    import torch
    from transformers import BitsAndBytesConfig

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float32,
                              llm_int8_skip_modules=list(skip_modules) or None)


# Lesson 08's instruction tuning of the causal LM (TRL's SFTTrainer on prompt/completion conversations); lesson 09 trains
# its LLM teacher and `benchmark sft` measures with the same settings. LoRA r=16 on every linear layer of every block
# (as QLoRA recommends), no dropout (measured: drawing the masks costs time on a CPU, and these runs are too short to
# overfit), learning rate 5e-4 on a cosine schedule after a short warm-up.
SFT_LEARNING_RATE = 5e-4


def sft_lora_config(**overrides) -> LoraConfig:
    """Lesson 08's LoRA for instruction tuning a causal LM; ``LoraConfig``'s keyword arguments override any setting."""
    from peft import LoraConfig, TaskType

    settings = dict(task_type=TaskType.CAUSAL_LM, r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
    return LoraConfig(**{**settings, **overrides})


def sft_config(profile: Profile, output_dir: str | Path, **overrides) -> SFTConfig:
    """Lesson 08's ``SFTConfig`` at ``profile``'s sizes; ``SFTConfig``'s keyword arguments override any setting.

    ``profile.sft_steps`` optimiser steps of ``profile.sft_batch_size`` e-mails, as ``profile.sft_micro_batch_size``
    e-mails per forward pass with the gradients accumulated (the update of the whole batch, the memory of one
    micro-batch, no padding between e-mails of different lengths); activation checkpointing where the profile's memory
    is short; the loss on the completion only; precision from the hardware, never trl's default ``bf16=True`` on a CPU
    without native bf16 (about 25x slower).
    """
    import torch
    from trl import SFTConfig

    from .training import precision_flags

    settings = dict(
        output_dir=str(output_dir), max_steps=profile.sft_steps, per_device_train_batch_size=profile.sft_micro_batch_size,
        gradient_accumulation_steps=profile.sft_batch_size // profile.sft_micro_batch_size,
        learning_rate=SFT_LEARNING_RATE, lr_scheduler_type="cosine", warmup_steps=profile.sft_steps // 10,
        activation_checkpointing=profile.sft_activation_checkpointing, completion_only_loss=True, logging_steps=1,
        save_strategy="no", report_to="none", disable_tqdm=True, dataloader_pin_memory=torch.cuda.is_available(),
        **precision_flags(),
    )
    return SFTConfig(**{**settings, **overrides})
