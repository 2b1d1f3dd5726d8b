"""Sharding the training state across ranks: ZeRO-1 and FSDP (ZeRO-3) against plain data parallelism.

    torchrun --standalone --nproc_per_node 2 sharded.py

For each strategy, the course's encoder is fully fine-tuned for one AdamW step (fp32: 4 bytes per weight, 4 per
gradient, 8 of Adam state), then every rank counts the bytes it holds of each kind, tensor by tensor:
- DDP: every rank holds everything (ZeRO stage 0);
- ZeRO-1, torch's ZeroRedundancyOptimizer: each rank keeps the optimizer state of its share of the parameters;
- FSDP, torch's fully_shard: each rank keeps 1/N of every parameter, gradient and optimizer state (ZeRO-3), and
  gathers a layer's full weights only while it computes with them.
"""

import argparse

import torch
import torch.distributed as dist
from torch.distributed.fsdp import fully_shard
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from course_utils.data import INTENTS, read_emails
from course_utils.distributed import REPORT_ARGUMENT, start_process_group, write_report
from course_utils.memory import peak_rss_mb, release_memory
from course_utils.models import model_path, resolve_model
from course_utils.profiles import resolve_profile

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--profile", default=None, help="tiny, cpu or gpu (default: $COURSE_PROFILE, else auto)")
parser.add_argument("--batch", type=int, default=4, help="e-mails per rank")
parser.add_argument(REPORT_ARGUMENT, default=None, help="rank 0 writes every rank's measurements here (JSON; default: prints them)")
args = parser.parse_args()

rank, world_size, device = start_process_group()
profile = resolve_profile(args.profile)
path = model_path(resolve_model("encoder", profile))
tokenizer = AutoTokenizer.from_pretrained(path)
emails = read_emails("train", profile)[rank * args.batch:(rank + 1) * args.batch]  # rank r's e-mails
batch = tokenizer([e["text"] for e in emails], truncation=True, max_length=profile.max_seq_length, padding=True,
                  return_tensors="pt")
batch = {**batch, "labels": torch.tensor([e["label"] for e in emails])}


def encoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(INTENTS)).to(device)


def ddp():
    model = DistributedDataParallel(encoder(), gradient_as_bucket_view=True)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-5)


def zero1():
    model = DistributedDataParallel(encoder(), gradient_as_bucket_view=True)
    return model, ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch.optim.AdamW, lr=1e-5)


def fsdp():
    model = encoder()
    for layer in model.base_model.encoder.layer:  # each layer is gathered, used and freed on its own
        fully_shard(layer)
    fully_shard(model)  # the rest: embeddings, pooler, classifier
    return model, torch.optim.AdamW(model.parameters(), lr=1e-5)


def local_bytes(tensors) -> int:
    """Bytes of this rank's part of each tensor (a DTensor's local shard, a plain tensor whole)."""
    tensors = [t.to_local() if isinstance(t, DTensor) else t for t in tensors]
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


rows = []
for name, build in {"DDP (replicated)": ddp, "ZeRO-1 (ZeroRedundancyOptimizer)": zero1, "FSDP (fully_shard)": fsdp}.items():
    model, optimizer = build()
    loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
    loss.backward()
    release_memory()  # hand the freed activations back first, so that the peak is the states' (2 ranks on 2 GB)
    optimizer.step()
    state = optimizer.optim.state if isinstance(optimizer, ZeroRedundancyOptimizer) else optimizer.state
    rows.append({"strategy": name,
                 "parameters": sum(p.numel() for p in model.parameters()),  # a DTensor counts its whole
                 "parameter_bytes": local_bytes(model.parameters()),
                 "gradient_bytes": local_bytes(p.grad for p in model.parameters()),
                 "optimizer_bytes": local_bytes(t for s in state.values() for t in s.values()
                                                if torch.is_tensor(t) and t.dim() > 0)})
    del model, optimizer, state, loss
    release_memory()

write_report({"rank": rank, "world_size": world_size, "strategies": rows, "peak_rss_mb": peak_rss_mb()}, args.report)
dist.destroy_process_group()
