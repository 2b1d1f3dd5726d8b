"""Measuring memory: peak GPU memory on CUDA, peak process RSS on CPU, and sizes on disk."""

from __future__ import annotations

import threading
import time
from pathlib import Path


def current_rss_mb() -> float:
    """Resident memory of this process in MB (10^6 bytes)."""
    import psutil

    return psutil.Process().memory_info().rss / 1e6


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


def release_memory() -> None:
    """Return the memory of deleted objects (a model, a trainer) to the operating system, so the process's RSS
    drops: a garbage collection (models hold reference cycles), then glibc's ``malloc_trim`` where it exists."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): the collection is all there is
        pass


def size_on_disk_mb(path: str | Path) -> float:
    """Size of a file, or of every file under a folder, in MB (10^6 bytes)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Nothing at {path}: save the model or adapter there first.")
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def trainable_checkpoint_mb(model) -> float:
    """Size on disk (MB) of what training changed: the trainable parameters, saved with safetensors."""
    import tempfile

    from safetensors.torch import save_file

    state = {name: p.detach().contiguous() for name, p in model.named_parameters() if p.requires_grad}
    with tempfile.TemporaryDirectory() as folder:
        save_file(state, Path(folder, "trainable.safetensors"))
        return size_on_disk_mb(Path(folder, "trainable.safetensors"))
