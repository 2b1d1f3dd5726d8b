"""Data parallelism with PyTorch's DistributedDataParallel (DDP), the engine under accelerate and Trainer.

Every rank (process) holds the whole model and takes its shard of each batch; during backward, DDP averages the
gradients of all ranks (an all-reduce), so every rank takes the same optimizer step and the copies stay equal.

    torchrun --standalone --nproc_per_node 2 data_parallel.py --global-batch 16 --steps 1 --save weights.pt

The same script runs on 1 process, or on N GPUs of a machine (nccl instead of gloo), unchanged. It fine-tunes the
course's encoder on the e-mails with plain SGD (one step's update is exactly -lr x the averaged gradient), dropout
off, so the run can be compared with one process number for number. Every weight is trained.
"""

import argparse
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from course_utils.data import INTENTS, load_emails
from course_utils.distributed import REPORT_ARGUMENT, loopback_bytes, start_process_group, write_report
from course_utils.memory import peak_rss_mb
from course_utils.models import model_path, resolve_model
from course_utils.profiles import resolve_profile
from course_utils.training import tokenize_emails

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--profile", default=None, help="tiny, cpu or gpu (default: $COURSE_PROFILE, else auto)")
parser.add_argument("--global-batch", type=int, default=16, help="e-mails per step, all ranks together")
parser.add_argument("--steps", type=int, default=1)
parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate")
parser.add_argument("--save", default=None, help="rank 0 saves the trained weights here (torch.save)")
parser.add_argument(REPORT_ARGUMENT, default=None, help="rank 0 writes every rank's measurements here (JSON; default: prints them)")
args = parser.parse_args()

rank, world_size, device = start_process_group()
if args.global_batch % world_size:
    raise SystemExit(f"--global-batch {args.global_batch} does not split evenly over {world_size} processes")
profile = resolve_profile(args.profile)
path = model_path(resolve_model("encoder", profile))
tokenizer = AutoTokenizer.from_pretrained(path)
torch.manual_seed(0)  # the same new classifier head on every rank (DDP would broadcast rank 0's anyway)
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(INTENTS), hidden_dropout_prob=0.0,
                                                           attention_probs_dropout_prob=0.0)
model = DistributedDataParallel(model.to(device), gradient_as_bucket_view=True)  # no second copy of the gradients

# Count what DDP all-reduces: it hands the gradients to a communication hook, bucket by bucket.
traffic = {"allreduce_bytes": 0, "buckets": 0, "allreduce_seconds": 0.0}


def counting_allreduce(state, bucket):
    gradients = bucket.buffer()
    traffic["allreduce_bytes"] += gradients.numel() * gradients.element_size()
    traffic["buckets"] += 1
    start = time.perf_counter()
    dist.all_reduce(gradients.div_(world_size))  # the average over ranks, as DDP's default hook does
    traffic["allreduce_seconds"] += time.perf_counter() - start  # waited for here, so not overlapped with backward
    future = torch.futures.Future()
    future.set_result(gradients)
    return future


model.register_comm_hook(None, counting_allreduce)

emails = load_emails(profile)["train"].select(range(args.global_batch * args.steps))
data = tokenize_emails(emails, tokenizer, profile.max_seq_length).rename_column("label", "labels")
sampler = DistributedSampler(data, num_replicas=world_size, rank=rank, shuffle=False)  # rank r: rows r, r+N, ...
loader = DataLoader(data, batch_size=args.global_batch // world_size, sampler=sampler,
                    collate_fn=DataCollatorWithPadding(tokenizer))
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)

# On one machine over gloo the ranks' bytes cross the loopback interface, where Linux counts them (nccl uses NVLink/PCIe).
sent_so_far = loopback_bytes if dist.get_backend() == "gloo" else lambda: None
steps = []
for batch in loader:
    dist.barrier()
    sent_before, start = sent_so_far(), time.perf_counter()
    traffic.update(allreduce_bytes=0, buckets=0, allreduce_seconds=0.0)
    loss = model(**{k: v.to(device) for k, v in batch.items()}).loss  # the mean over this rank's shard
    loss.backward()  # DDP all-reduces the gradients, bucket by bucket, as backward produces them
    optimizer.step()
    optimizer.zero_grad()
    seconds = time.perf_counter() - start
    dist.barrier()
    sent = sent_so_far()
    steps.append({"loss": loss.item(), "examples": len(batch["labels"]), "seconds": seconds, **traffic,
                  "loopback_bytes": None if sent is None else sent - sent_before})

weights = {name: p.detach().cpu() for name, p in model.module.named_parameters()}
del model, optimizer  # DDP's reducer must be gone before its process group is
if args.save and rank == 0:
    torch.save(weights, args.save)
write_report({"rank": rank, "world_size": world_size, "backend": dist.get_backend(), "threads": torch.get_num_threads(),
              "parameters": sum(p.numel() for p in weights.values()), "steps": steps,
              "peak_rss_mb": peak_rss_mb()}, args.report)
dist.destroy_process_group()
