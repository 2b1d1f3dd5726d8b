"""Commands for instructors and maintainers; they need the ``instructor`` extra (nbgrader, papermill, JupyterLab).

- ``bootstrap``: the README's two commands (a venv with everything, then JupyterLab or the tests)
- ``runner``: every lesson executed with papermill under a profile, with a summary table
- ``instructor``: release, collect, autograde (optionally in the ``sandbox``), ``feedback``, export, validate
- ``benchmark``: LLM training speed and memory, the learning rates chosen on validation
- ``drift``: what the newest allowed releases of the libraries break

Lessons never import from here.
"""
