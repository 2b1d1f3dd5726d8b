"""Feedback that never shows hidden tests.

nbgrader's ``ClearHiddenTests`` removes hidden test code from the feedback's cells, but a failing hidden
assert still prints its own source line in the traceback. :class:`HideHiddenTestTracebacks` (in
nbgrader_config.py's feedback preprocessors, before ``ClearHiddenTests``) shortens the error output of
every test cell with hidden tests to ``ErrorName: message``: the message is written for students, the
code is not.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


class HideHiddenTestTracebacks(Preprocessor):
    """Replace tracebacks in graded cells that contain hidden tests by their last line."""

    # nbconvert skips a preprocessor that is not enabled, and its base class is disabled by default.
    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and HIDDEN_MARKER in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output['ename']}: {output['evalue']}" if output.get("evalue") else output["ename"]
                    output["traceback"] = [message]
        return cell, resources
