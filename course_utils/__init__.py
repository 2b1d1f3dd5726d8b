"""Scaffolding for the Fine-Tuning & Transfer Learning course. It never holds an exercise's answer.

data (the e-mails, the probe set, the triage task), models (registry, bundled encoder and instruct LLM,
real architecture configs, generation), profiles, environment, lesson (start and results), training (RunRecord,
the Trainer wrapper, precision from the hardware), memory (peak memory, sizes on disk), plots, widgets,
cache (per-profile results, keyed by everything that produced them); runner, instructor, bootstrap, lock and drift are commands.

Modules are imported where used (``from course_utils.models import model_path``) so that
``python -m course_utils.bootstrap`` runs before anything heavy is installed.
"""

import logging

__version__ = "0.1.0"

# bitsandbytes warns on import, on CPUs with AVX512-BF16, that an optional kernel would need the hub (and the
# `kernels` package). Lessons import course_utils before peft so that this harmless warning never shows.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
