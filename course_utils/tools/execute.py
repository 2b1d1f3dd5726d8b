"""The autograder's executor: nbgrader's ``Execute``, with two additions (configured in ``nbgrader_config.py`` in
place of ``Execute`` in ``Autograde.autograde_preprocessors``).

* **A stuck cell costs that cell, not the submission.** nbgrader alone stops grading the notebook when a cell cannot
  be interrupted (an answer that catches ``KeyboardInterrupt`` or ignores SIGINT: "Timeout waiting for IOPub
  output") or kills the kernel. Here the kernel is restarted, the code cells before the stuck one run again (their
  new outputs are discarded; cells that were stuck are skipped), the stuck cell gets an error output that says what
  happened, and grading goes on.
* **Tamper signs.** Before the first cell and after the last, the kernel is asked what runs a cell and reports its
  errors: IPython's input and AST transformers, exception handlers, the run-cell methods, event hooks, the trace
  function and a few builtins. What changed in between (other than by the libraries the lessons use) is written to
  the file named by ``$COURSE_TAMPER_REPORT``, for the grading report: a sign to review the submission in
  formgrader, not proof (code that tampers can also hide it).
"""

from __future__ import annotations

import ast
import copy
import json
import os

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

TAMPER_REPORT_ENV = "COURSE_TAMPER_REPORT"
# One expression, evaluated in the student's kernel: what runs each cell and handles its errors, by name.
PROBE = """(lambda ip, sys, builtins, name: {
    "input transformers": [name(t) for t in ip.input_transformers_cleanup + ip.input_transformers_post],
    "AST transformers": [name(t) for t in ip.ast_transformers],
    "exception handlers": [name(sys.excepthook), name(ip.showtraceback), name(ip._showtraceback),
                           name(ip.CustomTB), str(ip.custom_exceptions)],
    "cell execution": [name(ip.run_cell), name(ip.run_cell_async), name(ip.run_ast_nodes), name(ip.run_code),
                       name(ip.transform_cell)],
    "event hooks": sorted(f"{event}: {name(f)}" for event, fs in ip.events.callbacks.items() for f in fs),
    "trace function": [name(sys.gettrace()), name(sys.getprofile())],
    "builtins": [name(getattr(builtins, b)) for b in ("AssertionError", "__import__", "isinstance", "type", "print")],
})(get_ipython(), __import__("sys"), __import__("builtins"),
   lambda f: f"{getattr(f, '__module__', None) or type(f).__module__}.{getattr(f, '__qualname__', type(f).__qualname__)}")"""
# Hooks the lessons' own libraries register (matplotlib draws and flushes figures after each cell).
KNOWN_HOOKS = ("matplotlib.", "matplotlib_inline.", "ipykernel.", "IPython.", "ipywidgets.")


class GradingExecute(Execute):
    """``Execute`` that restarts the kernel after a cell it could not interrupt, and reports tamper signs."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if index == 0:
            self._stuck, self._baseline = set(), self._probe()
        result = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1:
            self._report_tampering(self._probe())
        return result

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> NotebookNode:
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except (CellTimeoutError, DeadKernelError) as error:
            if isinstance(error, CellTimeoutError):
                reason = f"the cell ran over the {self.timeout} s limit and ignored the interrupt"
            else:
                reason = "the kernel died (out of memory, or the code ended the process)"
            self.log.warning("Cell %d: %s; restarting the kernel and running the cells before it again", cell_index, reason)
            self._stuck.add(cell_index)
            await self._restart_and_replay(cell_index)
            cell.outputs = [NotebookNode(output_type="error", ename=type(error).__name__, evalue=reason,
                                         traceback=[f"{type(error).__name__}: {reason}. The kernel was restarted and "
                                                    "the cells above ran again; this cell scores nothing."])]
            return cell

    execute_cell = run_sync(async_execute_cell)

    async def _restart_and_replay(self, stuck_index: int) -> None:
        await ensure_async(self.km.restart_kernel(now=True))
        await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
        self._baseline = await self._async_probe()  # the new kernel's own starting point
        for index, cell in enumerate(self.nb.cells[:stuck_index]):
            if cell.cell_type == "code" and index not in self._stuck:
                await Execute.async_execute_cell(self, copy.deepcopy(cell), index, store_history=False)

    async def _async_probe(self) -> dict | None:
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"probe": PROBE})
        reply = await self.async_wait_for_reply(msg_id)
        result = (reply or {}).get("content", {}).get("user_expressions", {}).get("probe", {})
        if result.get("status") != "ok":
            return None  # the kernel could not answer: itself a sign
        return ast.literal_eval(result["data"]["text/plain"])

    _probe = run_sync(_async_probe)

    def _report_tampering(self, final: dict | None) -> None:
        path = os.environ.get(TAMPER_REPORT_ENV)
        if not path:
            return
        signs = tamper_signs(self._baseline, final)
        with open(path, "w") as report:
            json.dump(signs, report)


def tamper_signs(before: dict | None, after: dict | None) -> list[str]:
    """What changed between two probes of a kernel, as report lines (hooks of known libraries left out)."""
    if before is None or after is None:
        return ["the kernel did not answer the check of its cell-running machinery"]
    signs = []
    for part, was in before.items():
        now = after.get(part)
        if part == "event hooks":
            added = [hook for hook in now if hook not in was and not hook.split(": ", 1)[1].startswith(KNOWN_HOOKS)]
            if added or [hook for hook in was if hook not in now]:
                signs.append(f"changed {part}: {', '.join(added) or 'some removed'}")
        elif now != was:
            changed = [item for item in now if item not in was] if isinstance(now, list) else [str(now)]
            signs.append(f"changed {part}: {', '.join(changed) or 'some removed'}")
    return signs
