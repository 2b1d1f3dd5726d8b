"""Data-parallel fine-tuning with transformers' Trainer: one script for 1 process, N CPU processes or N GPUs.

    torchrun --standalone --nproc_per_node 2 train.py --global-batch 16 --steps 40

Trainer reads the job from the environment torchrun sets (RANK, WORLD_SIZE, ...): it wraps the model in
DistributedDataParallel, has accelerate hand each rank its own batches, and evaluates on all ranks. Only the
per-device batch changes with the number of processes, so that every run takes the same optimizer steps on the
same global batch. It trains the course's standard LoRA (r=8 on query and value) on the encoder, as lesson 04 does.
Start it with torchrun (or `accelerate launch`) even on one GPU: plain `python train.py` on a machine with several
GPUs would fall back to the older DataParallel, with a global batch of --global-batch times the GPUs.
"""

import argparse
import os
import tempfile

import numpy as np
import torch
from peft import get_peft_model
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainerCallback,
                          TrainingArguments)

from course_utils.data import INTENTS, load_emails
from course_utils.distributed import REPORT_ARGUMENT, loopback_bytes, write_report
from course_utils.memory import HeapTrimmer, peak_rss_mb
from course_utils.models import model_path, resolve_model
from course_utils.profiles import resolve_profile
from course_utils.recipes import ADAPTER_LEARNING_RATE, WARMUP_RATIO, lora_config
from course_utils.training import precision_flags, tokenize_emails

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--profile", default=None, help="tiny, cpu or gpu (default: $COURSE_PROFILE, else auto)")
parser.add_argument("--global-batch", type=int, default=16, help="e-mails per optimizer step, all ranks together")
parser.add_argument("--steps", type=int, default=40)
parser.add_argument(REPORT_ARGUMENT, default=None, help="rank 0 writes every rank's measurements here (JSON; default: prints them)")
args = parser.parse_args()

world_size = int(os.environ.get("WORLD_SIZE", 1))  # set by torchrun
if args.global_batch % world_size:
    raise SystemExit(f"--global-batch {args.global_batch} does not split evenly over {world_size} processes")
profile = resolve_profile(args.profile)
path = model_path(resolve_model("encoder", profile))
tokenizer = AutoTokenizer.from_pretrained(path)
data = tokenize_emails(load_emails(profile), tokenizer, profile.max_seq_length)
model = get_peft_model(AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(INTENTS)), lora_config())


class LoopbackTraffic(TrainerCallback):
    """Bytes the ranks send each other while training (all-reduces of the adapters' gradients, and the logging's)."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = None if torch.cuda.is_available() else loopback_bytes()  # nccl's bytes do not cross loopback

    def on_train_end(self, args, state, control, **kwargs):
        self.sent = None if self.start is None else loopback_bytes() - self.start


class ReturnFreedMemory(TrainerCallback):
    """After each step, hand the memory of its freed activations back to the system: glibc's heap keeps it, and each
    rank's heap would grow by ~300 MB over the run (:class:`course_utils.memory.HeapTrimmer`)."""

    def __init__(self):
        self.trim = HeapTrimmer(slack_mb=0)

    def on_step_end(self, args, state, control, **kwargs):
        self.trim()


traffic = LoopbackTraffic()
with tempfile.TemporaryDirectory() as scratch:
    training_args = TrainingArguments(
        output_dir=scratch, max_steps=args.steps, learning_rate=ADAPTER_LEARNING_RATE, warmup_steps=int(WARMUP_RATIO * args.steps), seed=0,
        per_device_train_batch_size=args.global_batch // world_size,
        per_device_eval_batch_size=32, logging_steps=1,
        # Memory: each batch holds e-mails of similar length (little padding), and backward recomputes each layer's
        # activations instead of keeping them all (~0.3 GB per rank on CPU: 2 ranks and the notebook must fit 2 GB).
        train_sampling_strategy="group_by_length", gradient_checkpointing=True, save_strategy="no", report_to=[], disable_tqdm=True,
        # Trainer (transformers 5.x) multiplies the loss by the number of processes for models that accept loss
        # keyword arguments, expecting them to divide by the tokens of all ranks; BERT's classifier takes a plain mean,
        # so the gradients (and the logged loss) would be N times too large. DDP's own average is the right one here.
        average_tokens_across_devices=False, ddp_find_unused_parameters=False,
        ddp_backend=None if torch.cuda.is_available() else "gloo", use_cpu=not torch.cuda.is_available(), **precision_flags())
    trainer = Trainer(model=model, args=training_args, train_dataset=data["train"], eval_dataset=data["validation"],
                      data_collator=DataCollatorWithPadding(tokenizer),
                      compute_metrics=lambda p: {"accuracy": float((np.argmax(p.predictions, -1) == p.label_ids).mean())},
                      callbacks=[traffic, ReturnFreedMemory()])
    result = trainer.train()
    metrics = trainer.evaluate()

write_report({"rank": training_args.process_index, "world_size": world_size, "threads": torch.get_num_threads(),
              "per_device_batch": training_args.per_device_train_batch_size,
              "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "loopback_bytes": traffic.sent,
              "train_seconds": result.metrics["train_runtime"], "validation_accuracy": metrics["eval_accuracy"],
              "losses": [log["loss"] for log in trainer.state.log_history if "loss" in log],
              "peak_rss_mb": peak_rss_mb()}, args.report)
del trainer  # and with it the DDP wrapper, which must be gone before its process group is
if torch.distributed.is_initialized():
    torch.distributed.destroy_process_group()
