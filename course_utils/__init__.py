"""Scaffolding for the Fine-Tuning & Transfer Learning course: data, models, profiles, training,
memory, plots and widgets. It never holds an exercise's answer.

Modules are imported where used (``from course_utils.models import load_model``) so that
``python -m course_utils.bootstrap`` runs before anything heavy is installed.
"""

__version__ = "0.1.0"
