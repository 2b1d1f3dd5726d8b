"""The start and end of every lesson: profile, seed and style in one call; key results recorded for the runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .memory import peak_rss_mb
from .profiles import Profile, resolve_profile

RESULTS_DIR_ENV = "COURSE_RESULTS_DIR"  # set by the course runner; each lesson writes <lesson>.json there


def start_lesson(lesson: str, profile: Profile | str | None = None, seed: int = 0) -> Profile:
    """Resolve the profile, fix every seed, apply the plot style, quiet library chatter; print one line."""
    import warnings

    # peft calls a transformers method deprecated in 5.x. nbgrader scores a test cell that writes to
    # stderr as failed, so library deprecation chatter must not reach graded cells.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing_enable.* is deprecated.*", category=FutureWarning)
    import random

    import datasets
    import numpy as np
    import torch
    import transformers

    from .plots import use_course_style

    active = resolve_profile(profile)
    # What transformers.set_seed does, without importing its Trainer's modules: they bring peft and bitsandbytes
    # (90 MB per process), which lessons that never train an adapter (10's kernel) would carry for nothing.
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every device's generator, CUDA's included
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # per-tensor "Loading weights" bars
    datasets.disable_progress_bars()
    use_course_style()
    print(f"Lesson {lesson} | profile '{active.name}': {active.description} | budget {active.budget} | seed {seed}")
    return active


def record_results(lesson: str, **metrics) -> None:
    """Show a lesson's key numbers as a table; under the course runner, also save them for its summary.

    The process's peak memory is added to the record. ``left_out={part: reason}`` names what the lesson could
    not run on the installed libraries; the course runner then reports the lesson as incomplete.
    """
    import pandas as pd
    from IPython.display import display

    record = {"lesson": lesson, **metrics, "peak_rss_mb": round(peak_rss_mb(), 1)}
    folder = os.environ.get(RESULTS_DIR_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder, f"{lesson}.json").write_text(json.dumps(record, indent=2, default=str))
    display(pd.DataFrame([record]).set_index("lesson").T.rename(columns={lesson: "value"}))


def lesson_files(lesson: str, *names: str) -> list[Path]:
    """The files that sit beside the lesson's notebook (e.g. the scripts it launches), as paths. On Colab, which opens
    a notebook alone, missing ones are downloaded from the course's repository; elsewhere a missing one is an error
    that says where to run the notebook from."""
    from .environment import detect_platform
    from .layout import lesson_file_url

    paths = [Path(name) for name in names]
    for path in paths:
        if path.is_file():
            continue
        if detect_platform() != "colab":
            raise FileNotFoundError(f"{path.name} is not in {Path.cwd()}: open {lesson}.ipynb from its own folder "
                                    f"(course/{lesson}/), where {path.name} sits beside it.")
        import urllib.request

        urllib.request.urlretrieve(lesson_file_url(lesson, path.name), path)
    return paths


def markdown_table(frame: "pandas.DataFrame | pandas.Series", digits: int = 3) -> str:  # noqa: F821
    """A DataFrame or Series as a GitHub Markdown table (for reports and model cards), floats rounded."""
    import pandas as pd

    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    cell = lambda v: f"{v:.{digits}f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join([str(frame.index.name or ""), *map(str, frame.columns)]) + " |",
             "|" + "---|" * (len(frame.columns) + 1)]
    lines += ["| " + " | ".join([str(i), *(cell(v) for v in row)]) + " |" for i, row in zip(frame.index, frame.itertuples(index=False))]
    return "\n".join(lines)
