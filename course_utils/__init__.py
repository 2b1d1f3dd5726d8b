"""Scaffolding for the Fine-Tuning & Transfer Learning course. It never holds an exercise's answer.

What lessons import, one concern per module:

- ``data``: the e-mails, the probe set, the triage task
- ``profiles``: sizes per machine (tiny, cpu, gpu); ``lesson``: a lesson's start and recorded results
- ``models``: where weights come from (the bundled encoder and instruct LLM, hub models by role)
- ``architectures``: real architectures without weights (configs, shapes for memory estimates)
- ``recipes``: the shared experiment settings (learning rates, the standard LoRA, NF4 quantisation)
- ``training``: ``train_classifier`` over ``Trainer``, ``RunRecord``, precision from the hardware
- ``inference``: sentence embeddings, chat replies
- ``memory``: peak and current memory, sizes on disk, giving memory back
- ``stats``, ``plots``, ``widgets``, ``cache``; ``environment`` (this machine, versions against the lock)

``course_utils.tools`` holds the instructors' and maintainers' commands; ``lock`` and ``layout`` (the lock and the
repository's folders) serve both. Heavy libraries are imported inside functions, so that
``python -m course_utils.tools.bootstrap`` runs before anything is installed.
"""

import logging
import warnings

__version__ = "0.1.0"

# bitsandbytes warns on import, on CPUs with AVX512-BF16, that an optional kernel would need the hub (and the
# `kernels` package). Lessons import course_utils before peft so that this harmless warning never shows.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
# datasets' Dataset.sort passes pyarrow an option that pyarrow 25 deprecates: a FutureWarning for datasets, not students.
warnings.filterwarnings("ignore", message="Specifying null_placement in SortOptions is deprecated", category=FutureWarning)
