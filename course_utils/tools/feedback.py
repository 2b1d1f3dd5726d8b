"""Feedback that never shows hidden tests.

nbgrader's ``ClearHiddenTests`` removes hidden test code from the feedback's cells, but the code still reaches the
page through outputs: a failing hidden assert prints its own source line in the traceback, and a submission can
print the kernel's input history (``In``), which holds every hidden test that ran. :class:`HideHiddenTests` (in
nbgrader_config.py's feedback preprocessors, before ``ClearHiddenTests``) shortens the error output of every test
cell with hidden tests to ``ErrorName: message`` (the message is written for students, the code is not) and
replaces every output line that repeats a line of hidden test code.

What it cannot promise: a submission that encodes the hidden tests (reversed, base64) before printing them gets
them out. The hidden tests deter; the gradebook, which only the instructor reads, is the record.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"
HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[ \t]*### END HIDDEN TESTS", re.S | re.M)
MIN_HIDDEN_LINE = 16  # shorter lines ("assert ok", "import math") are too common to withhold from every output
REMOVED = "[a line of hidden test code, not shown]"
TEXT_OUTPUTS = ("text/plain", "text/html", "text/markdown", "text/latex")


def hidden_lines(nb) -> set[str]:
    """The hidden tests' lines of code in a notebook (stripped, the short ones left out)."""
    return {line.strip() for cell in nb.cells if cell.cell_type == "code" for block in HIDDEN_BLOCK.findall(cell.source)
            for line in block.splitlines() if len(line.strip()) >= MIN_HIDDEN_LINE}


class HideHiddenTests(Preprocessor):
    """Tracebacks of test cells with hidden tests cut to their last line; output lines that repeat hidden code replaced."""

    # nbconvert skips a preprocessor that is not enabled, and its base class is disabled by default.
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        self._hidden = hidden_lines(nb)
        return super().preprocess(nb, resources)

    def _scrub(self, text: str | list[str]) -> str:
        text = "".join(text) if isinstance(text, list) else text
        return "".join(REMOVED + ("\n" if line.endswith("\n") else "") if any(h in line for h in self._hidden) else line
                       for line in text.splitlines(keepends=True))

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                if HIDDEN_MARKER in cell.source:
                    message = f"{output['ename']}: {output['evalue']}" if output.get("evalue") else output["ename"]
                    output["traceback"] = [message]
                output["evalue"] = self._scrub(output.get("evalue", ""))
                output["traceback"] = [self._scrub(line) for line in output["traceback"]]
            elif output.get("output_type") == "stream":
                output["text"] = self._scrub(output["text"])
            for kind in TEXT_OUTPUTS:
                if kind in output.get("data", {}):
                    output["data"][kind] = self._scrub(output["data"][kind])
        return cell, resources
