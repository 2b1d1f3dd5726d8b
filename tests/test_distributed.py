"""Multi-process runs (lesson 10): the launcher, and the proof that a 2-process DDP step equals the 1-process step.

Every run spawns real processes with torchrun (its code run in the test's process) on 127.0.0.1 (gloo) and
leaves none behind.
"""

from __future__ import annotations

import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import ROOT
from course_utils.distributed import failure_lines, launch, loopback_bytes

LESSON = ROOT / "solutions" / "10_beyond_one_device"


def script(folder: Path, body: str) -> Path:
    path = folder / "job.py"
    path.write_text(textwrap.dedent(body))
    return path


def still_running(path: Path) -> bool:
    return subprocess.run(["pgrep", "-f", str(path)], capture_output=True).returncode == 0


def test_launch_gathers_one_report_row_per_rank(tmp_path, monkeypatch):
    job = script(tmp_path, """
        import sys
        import torch
        from course_utils.distributed import start_process_group, write_report
        rank, world_size, device = start_process_group()
        total = torch.tensor([rank + 1.0])
        torch.distributed.all_reduce(total)
        write_report({"rank": rank, "world_size": world_size, "sum": total.item(), "threads": torch.get_num_threads(),
                      "args": sys.argv[1:-2]}, sys.argv[-1])
        torch.distributed.destroy_process_group()
    """)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # the threads this process may use: 2 for each of 2 ranks
    handler = signal.getsignal(signal.SIGINT)
    rows = launch(job, 2, "--anything", 3, show=False)
    assert signal.getsignal(signal.SIGINT) is handler, "torchrun, run in this process, must give back the stop button"
    assert [r["rank"] for r in rows] == [0, 1] and {r["world_size"] for r in rows} == {2}
    assert {r["sum"] for r in rows} == {3.0}, "the ranks all-reduced over gloo"
    assert {r["threads"] for r in rows} == {2}, "the threads are shared out between the ranks"
    assert rows[0]["args"] == ["--anything", "3"]


def test_launch_says_what_failed_and_stops_every_process(tmp_path):
    failing = script(tmp_path, """
        import os
        if os.environ["RANK"] == "1":
            raise ValueError("rank 1 gives up on purpose")
        import time
        time.sleep(60)
    """)
    with pytest.raises(RuntimeError, match="rank 1 gives up on purpose"):
        launch(failing, 2, show=False, timeout=120)
    assert not still_running(failing)
    sleeper = script(tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(TimeoutError, match="ran past 3 s"):
        launch(sleeper, 2, show=False, timeout=3)
    assert not still_running(sleeper)
    with pytest.raises(FileNotFoundError, match="beside it"):
        launch(tmp_path / "missing.py", 2)
    with pytest.raises(ValueError, match="at least 1"):
        launch(sleeper, 0)
    if torch.cuda.device_count() < 2:
        with pytest.raises(ValueError, match="need 2 GPUs"):
            launch(sleeper, 2, use_gpus=True)
    silent = script(tmp_path, "pass\n")
    with pytest.raises(RuntimeError, match="without writing its report"):
        launch(silent, 1, show=False)


def test_a_failed_run_shows_the_traceback_not_the_noise_after_it():
    noise = ["[transformers] BertForSequenceClassification LOAD REPORT", "classifier.bias | MISSING"] * 15
    output = "\n".join(["starting", "[rank1]: Traceback (most recent call last):", '[rank1]:   File "train.py", line 3',
                        "[rank1]:     raise ValueError('no e-mails')", "[rank1]: ValueError: no e-mails", *noise,
                        "E1207 torch.distributed.elastic.multiprocessing.api: failed (exitcode: 1) local_rank: 1"])
    shown = failure_lines(output)
    assert shown.startswith("its error:") and shown.rstrip().endswith("[rank1]: ValueError: no e-mails"), shown
    assert "LOAD REPORT" not in shown
    assert failure_lines("\n".join(noise + ["failed (exitcode: 1)"])).startswith("its last lines:")


def test_loopback_counter_counts_what_is_sent():
    import socket

    before = loopback_bytes()
    if before is None:
        pytest.skip("no /proc/net/dev here")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"x" * 50_000, ("127.0.0.1", 9))
    assert loopback_bytes() - before >= 50_000


def test_a_two_process_ddp_step_equals_the_one_process_step(tmp_path):
    """The lesson's data_parallel.py: one SGD step of 2 ranks x 2 e-mails against 1 rank x 4 e-mails, compared with the
    step's own size (so that a missing all-reduce, a wrong average or a doubled loss would fail)."""
    from transformers import AutoModelForSequenceClassification

    from course_utils.data import INTENTS
    from course_utils.models import model_path, resolve_model

    def weights(processes: int) -> dict[str, torch.Tensor]:
        out = tmp_path / f"{processes}.pt"
        launch(LESSON / "data_parallel.py", processes, "--profile", "tiny", "--global-batch", 4, "--save", out, show=False)
        return torch.load(out)

    two, one = weights(2), weights(1)
    torch.manual_seed(0)  # the script's seed: the same new classifier head
    start = dict(AutoModelForSequenceClassification.from_pretrained(
        model_path(resolve_model("encoder", "tiny")), num_labels=len(INTENTS)).named_parameters())
    gap = lambda a, b: max((a[k] - b[k]).abs().max().item() for k in a)  # noqa: E731
    update = gap(one, start)
    assert update > 1e-4, f"the step should change the weights (largest change {update:.2e})"
    assert gap(two, one) < 1e-3 * update, \
        f"2 ranks and 1 rank on the same 4 e-mails should take the same step: they differ by {gap(two, one):.2e}, the step is {update:.2e}"
