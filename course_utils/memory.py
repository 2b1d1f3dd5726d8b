"""Memory: measured (peak GPU memory on CUDA, process RSS on CPU, sizes on disk) and given back."""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

Model = TypeVar("Model", bound="torch.nn.Module")


def current_rss_mb() -> float:
    """Resident memory of this process now, in MB (10^6 bytes)."""
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def peak_rss_mb() -> float:
    """Highest resident memory this process has reached since it started, in MB (the kernel's own count, Linux/macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB on Linux
    return peak / 1e6 if os.uname().sysname == "Darwin" else peak * 1024 / 1e6


class PeakMemory:
    """Context manager measuring the peak memory of the code inside it.

    On CUDA it reports ``torch.cuda.max_memory_allocated`` (tensors only); on CPU it samples the
    process's resident set size every ``interval`` seconds (everything the process holds).

    >>> with PeakMemory() as mem:
    ...     run_training()
    >>> mem.peak_mb, mem.kind
    """

    def __init__(self, device: str | None = None, interval: float = 0.02):
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.interval = interval
        self.peak_mb = 0.0
        self.start_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def kind(self) -> str:
        return "CUDA max allocated" if self.device.startswith("cuda") else "process RSS"

    @property
    def added_mb(self) -> float:
        """Peak minus what was already in use when the block started."""
        return max(0.0, self.peak_mb - self.start_mb)

    def __enter__(self) -> "PeakMemory":
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start_mb = torch.cuda.memory_allocated() / 1e6
        else:
            self.start_mb = self.peak_mb = current_rss_mb()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, current_rss_mb())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        import torch

        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 1e6
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, current_rss_mb())


def return_freed_memory() -> None:
    """Hand the memory of freed objects back to the operating system: glibc's ``malloc_trim`` (elsewhere, nothing)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): their allocators return memory themselves
        pass


class HeapTrimmer:
    """Call it after every training step: it hands freed memory back (:func:`return_freed_memory`) whenever the
    process's RSS has grown by more than ``slack_mb`` since it last did.

    On Linux, PyTorch's CPU tensors come from glibc's ``malloc``, which keeps freed blocks of up to 32 MB in its heap
    instead of returning them. Training frees and allocates activations of a new shape every step (each batch is
    padded to its own length), so the heap only grows: in lesson 05's QLoRA run, 1.83 GB resident after 20 steps
    where the libraries and live tensors need 0.69 GB. Trimming after every step stops that, but the next step
    faults its pages in again: 15-25% of a short step's time. Past ``slack_mb`` only, steps that keep little are
    not trimmed; a step whose freed activations alone pass it (that QLoRA run's) is, at about 15% of its time.
    """

    def __init__(self, slack_mb: float = 200):
        self.slack_mb = slack_mb
        self.baseline_mb: float | None = None

    def __call__(self) -> None:
        if self.baseline_mb is None or current_rss_mb() > self.baseline_mb + self.slack_mb:
            return_freed_memory()
            self.baseline_mb = current_rss_mb()


def release_memory() -> None:
    """Return the memory of deleted objects (a model, a trainer) to the operating system, so the process's RSS
    drops: a garbage collection (models hold reference cycles), then :func:`return_freed_memory`."""
    gc.collect()
    return_freed_memory()


def release_checkpoint(model: Model) -> Model:
    """Copy a quantised model's unquantised CPU tensors (embeddings, norms) out of the checkpoint file; returns the model.

    ``from_pretrained(..., quantization_config=...)`` memory-maps the full-precision checkpoint; those tensors are
    views of the mapping, so it stays open, and with it every page of the file that quantising read: for SmolLM2
    about 440 MB of resident memory that the 4-bit model does not use. Once nothing points into the mapping, it is
    closed.
    """
    import torch

    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.device.type == "cpu" and tensor.dtype != torch.uint8:  # uint8: the packed 4-bit weights
            tensor.data = tensor.data.clone()
    gc.collect()
    return model


def size_on_disk_mb(path: str | Path) -> float:
    """Size of a file, or of every file under a folder, in MB (10^6 bytes)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Nothing at {path}: save the model or adapter there first.")
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def trainable_checkpoint_mb(model: torch.nn.Module) -> float:
    """Size on disk (MB) of what training changed: the trainable parameters, saved with safetensors."""
    import tempfile

    from safetensors.torch import save_file

    state = {name: p.detach().contiguous() for name, p in model.named_parameters() if p.requires_grad}
    with tempfile.TemporaryDirectory() as folder:
        save_file(state, Path(folder, "trainable.safetensors"))
        return size_on_disk_mb(Path(folder, "trainable.safetensors"))
