"""Scaffolding for the Fine-Tuning & Transfer Learning course. It never holds an exercise's answer.

data (the e-mails and the probe set), models (registry, bundled encoder, built architectures),
profiles, environment, lesson (start and results), training (RunRecord, the Trainer wrapper),
memory (peak memory, sizes on disk), plots, widgets, cache (per-profile results);
runner, instructor and bootstrap are commands.

Modules are imported where used (``from course_utils.models import load_model``) so that
``python -m course_utils.bootstrap`` runs before anything heavy is installed.
"""

__version__ = "0.1.0"
