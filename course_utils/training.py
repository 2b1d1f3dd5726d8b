"""A thin layer over transformers' ``Trainer`` that returns a :class:`RunRecord` for every run.

The record holds what the lessons compare across methods: trainable and total parameters, accuracy
per split, the loss curve, wall time and peak memory. Training shows one progress bar with the
current loss in it, not a wall of log lines.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from datasets import Dataset, DatasetDict
    from transformers import PreTrainedTokenizerBase, Trainer, TrainerCallback

from .memory import HeapTrimmer, PeakMemory, release_memory
from .profiles import Profile, resolve_profile
from .recipes import WARMUP_RATIO

@dataclass
class RunRecord:
    """What one training run cost and achieved."""

    name: str
    trainable_params: int
    total_params: int
    accuracy: dict[str, float] = field(default_factory=dict)
    # Per evaluation split, whether each example was classified right (in the split's order): for paired tests.
    correct: dict[str, list[bool]] = field(default_factory=dict)
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    # (epoch, accuracy on the validation split) after every epoch, when asked for (``validation_curve=True``).
    validation_curve: list[tuple[float, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    memory_kind: str = ""
    # The training state, measured on the real tensors (MB): the model as stored (4-bit weights at their
    # packed size), its gradients just before an optimiser step, and the optimiser's state after training.
    weights_mb: float = 0.0
    gradients_mb: float = 0.0
    optimizer_mb: float = 0.0

    @property
    def training_state_mb(self) -> float:
        return self.weights_mb + self.gradients_mb + self.optimizer_mb

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable_params / self.total_params

    def as_row(self) -> dict:
        """A flat dict for a results table (the loss curve and per-example correctness left out)."""
        row = {k: v for k, v in asdict(self).items() if k not in ("accuracy", "correct", "loss_curve", "validation_curve")}
        row["trainable_percent"] = round(self.trainable_percent, 3)
        row["training_state_mb"] = self.training_state_mb
        row.update({f"accuracy_{split}": acc for split, acc in self.accuracy.items()})
        return row


def precision_flags() -> dict[str, bool]:
    """``bf16``/``fp16`` for ``TrainingArguments`` (and trl's ``SFTConfig``) chosen from the hardware.

    bfloat16 mixed precision where the GPU supports it, float16 on older GPUs (e.g. a T4), float32 on a CPU.
    Never leave trl's default (``bf16=True``) on a CPU: without native bf16 a step runs ~25x slower.
    """
    import torch

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": cuda and not bf16}


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, as the libraries count them: peft's ``get_nb_trainable_parameters`` for a peft
    model, else transformers' ``num_parameters`` (both count a 4-bit weight as the parameters it packs)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    return model.num_parameters(only_trainable=True), model.num_parameters()


def few_shot_steps(examples: int, profile: Profile | str | None = None) -> int:
    """Optimiser steps for a few-shot run on ``examples`` labelled e-mails: ``profile.few_shot_epochs`` passes over
    them, and never fewer than ``profile.few_shot_steps``, so a larger k gets a proportionally larger budget."""
    import math

    profile = resolve_profile(profile)
    return max(profile.few_shot_steps, math.ceil(profile.few_shot_epochs * examples / profile.batch_size))


def tokenize_emails(data: Dataset | DatasetDict, tokenizer: PreTrainedTokenizerBase,
                    max_length: int, keep: tuple[str, ...] = ()) -> Dataset | DatasetDict:
    """Tokenize the ``text`` column of a Dataset/DatasetDict, keeping only model inputs, ``label`` and ``keep``."""
    if isinstance(data, dict):  # a DatasetDict: each split keeps what it has
        return type(data)({split: tokenize_emails(ds, tokenizer, max_length, keep) for split, ds in data.items()})
    from datasets.fingerprint import Hasher

    drop = [c for c in data.column_names if c not in ("label", *keep)]
    # map names its result by hashing the function, tokenizer and vocabulary included: 0.4 s a split, a third of a
    # tiny lesson's training time. What the result depends on, hashed instead:
    fingerprint = Hasher.hash((data._fingerprint, tokenizer.name_or_path, len(tokenizer), tokenizer.truncation_side,
                               max_length, drop))
    return data.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
                    batched=True, remove_columns=drop, new_fingerprint=fingerprint)


def live_progress_callback() -> TrainerCallback:
    """A ``TrainerCallback`` (for ``Trainer`` or trl's trainers): one progress bar with the latest loss; it keeps
    the loss curve (``.curve``) and the bytes of the gradients and the optimiser's state, and after each step hands
    freed activations' memory back to the system once it adds up (:class:`course_utils.memory.HeapTrimmer`)."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class LiveProgress(TrainerCallback):
        """One progress bar with the latest loss; records the loss curve and the gradients' and optimiser's bytes."""

        def __init__(self):
            self.curve: list[tuple[int, float]] = []
            self.bar = None
            self.trim_heap = HeapTrimmer()
            self.gradient_bytes = self.optimizer_bytes = 0

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            self.gradient_bytes = max(self.gradient_bytes, sum(g.numel() * g.element_size() for g in grads))

        def on_train_begin(self, args, state, control, **kwargs):
            self.bar = tqdm(total=state.max_steps, desc="training", unit="step")

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(1)
            self.trim_heap()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.curve.append((state.global_step, float(logs["loss"])))
                self.bar.set_postfix(loss=f"{logs['loss']:.3f}")

        def on_train_end(self, args, state, control, optimizer=None, **kwargs):
            self.bar.close()
            tensors = [t for group in optimizer.state.values() for t in group.values() if hasattr(t, "dim") and t.dim() > 0]
            self.optimizer_bytes = sum(t.numel() * t.element_size() for t in tensors)

    return LiveProgress()


def train_classifier(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, data: DatasetDict, profile: Profile | str | None = None, name: str = "run",
                     eval_splits: tuple[str, ...] = ("test", "shifted_test"), validation_curve: bool = False,
                     trainer_class: type[Trainer] | None = None, **training_arguments) -> RunRecord:
    """Train a sequence classifier with transformers' ``Trainer`` on ``data["train"]``; score ``eval_splits``.

    This is lesson 01's ``TrainingArguments`` + ``Trainer`` recipe, measured. ``training_arguments`` are
    ``TrainingArguments`` keyword arguments (``learning_rate``, ``num_train_epochs``, ``max_steps``, ``seed``,
    ``weight_decay``, ``gradient_accumulation_steps``, ...); any not given come from the profile (batch size,
    epochs, learning rate, device) and the course's schedule (warm up over the first ``WARMUP_RATIO`` of the steps,
    then decay linearly), with mixed precision chosen from the hardware (:func:`precision_flags`).
    ``validation_curve=True`` also scores ``data["validation"]`` after every epoch (``RunRecord.validation_curve``).
    ``trainer_class``: a ``Trainer`` subclass with its own ``compute_loss`` (e.g. distillation); it receives every
    column of the training split other than ``text`` and ``label`` (e.g. ``teacher_logits``) in its inputs.
    Whatever in ``model`` requires grad is trained, so the same call serves full fine-tuning, a frozen backbone
    with a head, LoRA and other adapters.

    Each training batch holds e-mails of similar length (``train_sampling_strategy="group_by_length"``: random
    groups of up to 50 batches, sorted by length within the group), so little of a batch is padding: ~30% less
    time a run on 2 CPU cores than random batches. Each split is scored shortest e-mails first for the same reason, and
    ``RunRecord.correct`` is given back in the split's own order, so two runs pair up e-mail by e-mail.
    """
    import numpy as np
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments

    profile = resolve_profile(profile)
    missing = [s for s in ("train", *eval_splits, *(("validation",) if validation_curve else ())) if s not in data]
    if missing:
        raise KeyError(f"The data has no split {', '.join(missing)}: pass load_emails(...) or a DatasetDict with them.")
    extra = () if trainer_class is None else tuple(c for c in data["train"].column_names if c not in ("text", "label"))
    tokenized = tokenize_emails(data, tokenizer, profile.max_seq_length, keep=extra)
    progress = live_progress_callback()
    with tempfile.TemporaryDirectory() as output_dir:
        settings = dict(
            per_device_train_batch_size=profile.batch_size, per_device_eval_batch_size=2 * profile.batch_size,
            num_train_epochs=profile.train_epochs, learning_rate=profile.learning_rate, seed=0,
            warmup_steps=WARMUP_RATIO, lr_scheduler_type="linear", train_sampling_strategy="group_by_length",
            use_cpu=profile.device == "cpu", **precision_flags(),
        )
        settings.update(training_arguments)
        args = TrainingArguments(
            output_dir=output_dir, logging_steps=1, save_strategy="no", eval_strategy="epoch" if validation_curve else "no",
            report_to="none", disable_tqdm=True, remove_unused_columns=not extra, **settings,
        )

        def accuracy_metric(prediction) -> dict[str, float]:
            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
            return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == prediction.label_ids))}

        trainer = (trainer_class or Trainer)(model=model, args=args, train_dataset=tokenized["train"],
                          eval_dataset=tokenized["validation"] if validation_curve else None,
                          compute_metrics=accuracy_metric, data_collator=DataCollatorWithPadding(tokenizer),
                          callbacks=[progress])
        trainer.remove_callback(PrinterCallback)
        # A classifier's loss is the mean over its micro-batch, so with gradient accumulation Trainer must divide it by
        # the steps accumulated. transformers 5.x skips that division for any model whose forward takes **kwargs
        # (BERT's does), and the loss and gradients came out gradient_accumulation_steps times too large.
        trainer.loss_is_scaled_for_ga = False
        with PeakMemory(device=profile.device) as memory:
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
        validation = [(entry["epoch"], entry["eval_accuracy"]) for entry in trainer.state.log_history if "eval_accuracy" in entry]
        trainer.args.train_sampling_strategy = "sequential"  # from here on, predict keeps the order it is given
        accuracy, correct = {}, {}
        for split in eval_splits:
            order = np.argsort([len(ids) for ids in tokenized[split]["input_ids"]], kind="stable")
            prediction = trainer.predict(tokenized[split].select(order))
            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
            right = np.empty(len(order), dtype=bool)
            right[order] = np.argmax(logits, axis=-1) == prediction.label_ids
            accuracy[split], correct[split] = float(np.mean(right)), right.tolist()
    del trainer  # it holds the optimiser's state; give that memory back to the system now, not at some later collection
    release_memory()
    trainable, total = parameter_counts(model)
    return RunRecord(
        name=name, trainable_params=trainable, total_params=total, accuracy=accuracy, correct=correct,
        loss_curve=progress.curve, validation_curve=validation,
        train_seconds=seconds, peak_memory_mb=memory.peak_mb, memory_kind=memory.kind,
        weights_mb=model.get_memory_footprint() / 1e6, gradients_mb=progress.gradient_bytes / 1e6,
        optimizer_mb=progress.optimizer_bytes / 1e6,
    )


def train_sft(trainer: Trainer, progress: TrainerCallback) -> dict:
    """Train a peft model with trl's ``SFTTrainer`` (or any ``Trainer``) and return what lessons compare, plus the
    adapter's weights, so that a cached run restores them (``set_peft_model_state_dict``): the loss curve from
    ``progress`` (a :func:`live_progress_callback` given to the trainer), seconds, tokens per second, peak memory,
    trainable and total parameters (peft counts a 4-bit weight as the parameters it packs)."""
    from peft import get_peft_model_state_dict

    release_memory()  # start from a trimmed heap: building the trainer (tokenizing the data) leaves garbage behind
    with PeakMemory() as memory:
        trainer.train()
    runtime = trainer.state.log_history[-1]["train_runtime"]
    tokens = max(entry.get("num_tokens", 0) for entry in trainer.state.log_history)
    trainable, total = trainer.model.get_nb_trainable_parameters()
    return {"curve": progress.curve, "train_seconds": runtime, "tokens_per_second": tokens / runtime,
            "peak_memory_mb": memory.peak_mb, "memory_kind": memory.kind, "trainable_params": trainable,
            "total_params": total, "adapter": {k: v.cpu() for k, v in get_peft_model_state_dict(trainer.model).items()}}


def train_causal_lm(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, texts: list[str], steps: int, learning_rate: float = 2e-4,
                    max_length: int = 512) -> list[float]:
    """``steps`` AdamW steps of next-token prediction, one text per step (cycling); returns the losses.

    Small on purpose: lessons use it for a few QLoRA/LoRA steps on a causal LM and measure around it.
    """
    import torch
    from tqdm.auto import tqdm

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    model.train()
    losses, trim_heap = [], HeapTrimmer()
    for step in (bar := tqdm(range(steps), desc="training", unit="step")):
        batch = tokenizer(texts[step % len(texts)], return_tensors="pt", truncation=True, max_length=max_length).to(model.device)
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        trim_heap()
    return losses
