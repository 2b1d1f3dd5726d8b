"""The student's view, in a real browser: JupyterLab 4 in headless Chromium (Debian's chromium, driven by playwright),
set up as Binder sets it up for students (binder/hide_instructor_panels), lessons under the tiny profile; one
JupyterLab and one Chromium per test worker.

- Every widget (lesson 04's rank explorer, 05's bit-width explorer and memory planner, 10's sharding planner): each
  control is changed through the page (slider keys, a typed value, checkboxes, toggle buttons, dropdowns), and the
  text the page then shows is compared with what the lesson's own functions compute for those settings; the plot is
  redrawn whenever what it shows changed.
- The lessons that hold them run clean in the browser: no stderr block, no error, no overlapping labels in a
  widget's plot at its default settings.
- The student's path: answer an exercise, run it and its tests; Validate names the exercises still unanswered, then
  says "Success!".
- The student's view: Validate is there, nbgrader's instructor tools (Formgrader, Create Assignment) are not.

Screenshots of each widget, before and after each change, are written to runs/browser/ for a reviewer. Chromium and
playwright are test dependencies (`apt-get install chromium`, the test extra); where either is missing these tests are
skipped, except where COURSE_REQUIRE_BROWSER is set (.ci/run sets it), where they fail.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT
from course_utils.layout import solution_notebook, student_notebook

# One test per lesson, each opening it once: test workers each start their own JupyterLab (xdist's loadgroup, which
# would keep them on one, silently stops grouping on pytest 9.2: pytest-dev/pytest-xdist#1386).
pytestmark = pytest.mark.notebook
SHOTS = ROOT / "runs" / "browser"
CHROMIUM = shutil.which("chromium")
STUDENT_LESSON = "00_setup"
# Chromium as root in a container, on a machine with no network: without the background-networking flags it keeps
# trying to reach Google's hosts.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'  # stderr streams and errors
RUN_TIMEOUT_S = 300
# One more LoRA rank on a multi-billion-parameter model may move no bar by a pixel: only the text is checked there.
ONE_RANK_MORE = ("arrow up on the rank slider", "arrow right on the rank slider")


def require_browser() -> None:
    missing = [what for what, found in (("Debian's chromium (apt-get install chromium)", CHROMIUM),
                                        ("playwright (pip install -e '.[test]')", importlib.util.find_spec("playwright")))
               if not found]
    if missing:
        message = f"the browser tests need {' and '.join(missing)}"
        if os.environ.get("COURSE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Lab:
    url: str
    token: str
    log: Path

    def status(self, path: str) -> int:
        """The HTTP status of GET ``path`` on the server, signed in."""
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernel(self, path: str) -> None:
        """Close the notebook's session on the server, and so its kernel (a closed page leaves it running)."""
        for session in self.api("sessions"):
            if session["path"] == path:
                self.api(f"sessions/{session['id']}", method="DELETE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with a token, serving copies of the widget lessons' solutions and of a student lesson,
    with the instructor's panels hidden as on Binder."""
    require_browser()
    base = tmp_path_factory.mktemp("lab")
    SHOTS.mkdir(parents=True, exist_ok=True)
    root = base / "root"
    for lesson in WIDGETS:
        shutil.copytree(solution_notebook(ROOT, lesson).parent, root / lesson)
    shutil.copytree(student_notebook(ROOT, STUDENT_LESSON).parent, root / STUDENT_LESSON)
    config, settings = base / "config", base / "settings" / "@jupyterlab"
    for plugin, values in {  # render every cell (JupyterLab 4 leaves out those scrolled out of view); no news pop-up
            "notebook-extension/tracker": {"windowingMode": "none"},
            "apputils-extension/notification": {"fetchNews": "false"}}.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    env = {**os.environ, "COURSE_PROFILE": "tiny", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           # this test's config first: the student's view is written there, as Binder writes it into its environment
           "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_CONFIG_PATH": str(config),
           "JUPYTERLAB_SETTINGS_DIR": str(settings.parent), "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}
    subprocess.run(["bash", str(ROOT / "binder" / "hide_instructor_panels"), "user"], env=env, check=True,
                   capture_output=True)
    token, port, log = secrets.token_hex(16), free_port(), base / "jupyterlab.log"
    as_root = ["--allow-root"] if os.geteuid() == 0 else []
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *as_root],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    running = Lab(f"http://127.0.0.1:{port}", token, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            try:
                if running.status("/api/status") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        yield running
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Notebook:
    """A notebook open in JupyterLab, in a fresh workspace, and what a student does with it."""

    def __init__(self, browser, lab: Lab, path: str):
        self.lab, self.path = lab, path
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page = page = self.context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{lab.url}/lab/tree/{path}?token={lab.token}&reset")  # reset: no notebook left open from before
        self.cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
        page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).wait_for()  # its kernel has started

    def close(self) -> None:
        self.context.close()
        self.lab.shut_down_kernel(self.path)

    def menu(self, *path: str) -> None:
        """Click through the menu bar: ``menu("Run", "Run All Cells")``."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{path[0]}$")).click()
        for item in path[1:]:
            self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()

    def wait_until_idle(self, timeout_s: float = RUN_TIMEOUT_S) -> None:
        """Wait for every queued cell to finish (their prompts show [*] until then)."""
        running = self.page.locator(".jp-InputPrompt", has_text="[*]")
        running.first.wait_for(state="attached", timeout=10_000)
        deadline = time.monotonic() + timeout_s
        while running.count():
            assert time.monotonic() < deadline, f"cells still running after {timeout_s} s"
            time.sleep(0.5)

    def run_all(self) -> None:
        self.menu("Run", "Run All Cells")
        self.wait_until_idle()

    def problems(self) -> list[str]:
        """The text of every stderr block and error shown in the notebook."""
        return [text[:2000] for text in self.page.locator(STDERR).all_text_contents()]

    def edit(self, cell, code: str) -> None:
        """Replace a code cell's source, as typed."""
        cell.locator(".cm-content").click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(code)

    def run_new_cell(self, code: str) -> str:
        """Add a code cell at the end, run it, and return what it printed."""
        self.cells.last.locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")
        self.edit(self.cells.last, code)
        self.page.keyboard.press("Shift+Enter")  # runs it and adds a cell below it
        cell = self.cells.nth(self.cells.count() - 2)
        prompt = cell.locator(".jp-InputPrompt")
        deadline = time.monotonic() + 60
        while not re.fullmatch(r"\[\d+\]:", (prompt.text_content() or "").strip()):
            assert time.monotonic() < deadline, f"this cell did not finish in 60 s:\n{code}"
            time.sleep(0.2)
        if cell.locator(STDERR).count():
            raise AssertionError(f"{code}\nfailed:\n{cell.locator(STDERR).first.text_content()}")
        return "".join(cell.locator(".jp-OutputArea-output").all_text_contents())

    def evaluate(self, expression: str) -> object:
        """``expression``'s value in the notebook's kernel, through JSON."""
        return json.loads(self.run_new_cell(f"import json\nprint(json.dumps({expression}))"))


class Panel:
    """A widget on the page, found by one of its controls' labels, and the controls a student uses."""

    def __init__(self, notebook: Notebook, label: str, name: str):
        self.page, self.name, self.shots = notebook.page, name, 0
        self.locator = self.page.locator(".widget-vbox").filter(has=self.label(label)).first
        self.locator.scroll_into_view_if_needed()

    def label(self, text: str):
        return self.page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(text)}$"))

    def shows(self) -> tuple[str, str]:
        """The text and the plot (its PNG as a data URL, or "") the widget shows."""
        view = self.locator.locator(".widget-html-content").first
        image = view.locator("img")
        return (view.locator("p").first.text_content() or "").strip(), image.get_attribute("src") if image.count() else ""

    def change(self, action: Callable[[], None], what: str) -> tuple[str, str]:
        """Do ``action`` and wait for the widget to show something new; screenshot the result."""
        before = self.shows()
        action()
        deadline, seen = time.monotonic() + 30, [before]
        while seen[-1] == before or len(seen) < 5 or len(set(seen[-5:])) > 1:  # changed, then the same for 0.5 s
            assert time.monotonic() < deadline, f"{self.name}: nothing changed on the page after {what}: {seen[-1][0]!r}"
            time.sleep(0.1)
            seen.append(self.shows())
        self.screenshot(what)
        return seen[-1]

    def after(self, action: Callable[[], None] | None, what: str) -> tuple[str, str]:
        """What the widget shows after ``action`` (``change``), or now if there is none (screenshot taken)."""
        if action:
            return self.change(action, what)
        self.screenshot(what)
        return self.shows()

    def screenshot(self, what: str) -> None:
        slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")
        self.locator.screenshot(path=SHOTS / f"{self.name}-{self.shots}-{slug}.png")
        self.shots += 1

    def press_key(self, key: str) -> Callable[[], None]:
        """A key pressed on the slider's handle."""
        return lambda: (self.locator.locator(".noUi-handle").first.focus(), self.page.keyboard.press(key))

    def type_value(self, value: int) -> Callable[[], None]:
        """A value typed into the slider's readout."""
        def action() -> None:
            self.locator.locator(".widget-readout").first.click()
            self.page.keyboard.press("ControlOrMeta+a")
            self.page.keyboard.insert_text(str(value))
            self.page.keyboard.press("Enter")
        return action

    def tick(self, description: str, ticked: bool) -> Callable[[], None]:
        box = self.locator.locator(".widget-checkbox").filter(has=self.page.get_by_text(description, exact=True))
        return lambda: box.locator("input").set_checked(ticked)

    def button(self, name: str) -> Callable[[], None]:
        return lambda: self.locator.get_by_role("button", name=name, exact=True).click()

    def choose(self, label: str, option: str) -> Callable[[], None]:
        dropdown = self.locator.locator(".widget-dropdown").filter(has=self.label(label))
        return lambda: dropdown.locator("select").select_option(label=option)


def overlapping_labels(fig) -> list[tuple[str, str]]:
    """Pairs of texts drawn over each other in a matplotlib figure (tick labels, titles, legends: what was drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    drawn, draw_text = {}, renderer.draw_text

    def record(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if mtext is not None and s.strip():
            drawn[mtext] = None
        return draw_text(gc, x, y, s, prop, angle, ismath, mtext)

    renderer.draw_text = record
    fig.draw(renderer)
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in drawn]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


def default_plot_overlaps(notebook: Notebook, call: str) -> list[list[str]]:
    """Overlapping labels in the plot that the widget built by ``call`` draws at its default settings (built again,
    unshown, in the lesson's kernel)."""
    return json.loads(notebook.run_new_cell("\n".join([
        inspect.getsource(overlapping_labels),
        "import json, course_utils.widgets as _widgets",
        "from IPython.utils.capture import capture_output",
        "_figures, _to_html = [], _widgets.figure_html",
        "_widgets.figure_html = lambda fig: _figures.append(fig) or _to_html(fig)",
        "try:",
        "    with capture_output():",
        f"        {call}",
        "finally:",
        "    _widgets.figure_html = _to_html",
        "print(json.dumps(overlapping_labels(_figures[0])))",
    ])))


def test_overlapping_labels_finds_texts_drawn_over_each_other():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set(title="title", xlabel="x", ylabel="y")
    assert overlapping_labels(fig) == []
    ax.text(0.5, 0.5, "one label")
    ax.text(0.52, 0.5, "another")
    ax.set_xticks([0, 0.01], ["a long tick label", "its neighbour"])
    found = {frozenset(pair) for pair in overlapping_labels(fig)}
    assert found == {frozenset({"one label", "another"}), frozenset({"a long tick label", "its neighbour"})}
    plt.close(fig)


def settings_after_each(steps: list[tuple], settings: dict) -> list[dict]:
    """The widget's settings after each step, each step's last item holding the settings it changes."""
    chosen = []
    for step in steps:
        settings = {**settings, **step[-1]}
        chosen.append(settings)
    return chosen


def check_rank_explorer(notebook: Notebook) -> None:
    """The slider (a key, a typed rank) and the target checkboxes."""
    panel = Panel(notebook, "rank r", "04-rank-explorer")
    qv = ["attention.self.query", "attention.self.value"]
    steps = [  # (what the student does, the action, targets, rank)
        ("default", None, qv, 8),
        ("arrow right on the slider", panel.press_key("ArrowRight"), qv, 9),
        ("rank 32 typed", panel.type_value(32), qv, 32),
        ("key ticked", panel.tick("attention.self.key", True), ["attention.self.query", "attention.self.key",
                                                                "attention.self.value"], 32),
        ("query unticked", panel.tick("attention.self.query", False), ["attention.self.key", "attention.self.value"], 32),
    ]
    budgets = notebook.evaluate(f"[lora_budget(groups, t, r, lora_param_count, total_params) for t, r in "
                                f"{[(t, r) for _, _, t, r in steps]!r}]")
    image = None
    for (what, action, _, rank), budget in zip(steps, budgets):
        text, new_image = panel.after(action, what)
        for part in (f"r={rank} on {budget['layers']} layers", f"{budget['trainable_params']:,} trainable parameters",
                     f"{budget['percent_of_model']:.3f}% of the model", f"adapter {budget['adapter_mb']:.2f} MB"):
            assert part in text, f"rank explorer after {what}: expected {part!r}, the page shows {text!r}"
        assert new_image.startswith("data:image/png"), "the rank explorer shows accuracy against rank"
        if image is not None:
            assert (new_image != image) == (what in ("arrow right on the slider", "rank 32 typed")), \
                f"the plot marks the chosen rank, and only the rank: {what}"
        image = new_image
    for box in ("attention.self.key", "attention.self.value"):
        text, _ = panel.change(panel.tick(box, False), f"{box} unticked")
    assert text == "Tick at least one layer type to adapt."


def check_bit_width_explorer(notebook: Notebook) -> None:
    """The bits and scheme toggle buttons."""
    panel = Panel(notebook, "bits", "05-bit-width-explorer")
    steps = [("default", None, 4, "nf"), ("8 bits", panel.button("8"), 8, "nf"),
             ("int scheme", panel.button("int"), 8, "int"), ("2 bits", panel.button("2"), 2, "int")]
    errors = notebook.evaluate(
        "[(lambda w, e: [w.numel(), float(e.mean()), float(e.max())])(sample[:65536].flatten().float(), "
        "(round_trip(sample[:65536].flatten().float(), bits, scheme) - sample[:65536].flatten().float()).abs()) "
        f"for bits, scheme in {[(b, s) for _, _, b, s in steps]!r}]")
    images = set()
    for (what, action, bits, scheme), (count, mean, largest) in zip(steps, errors):
        text, image = panel.after(action, what)
        expected = f"{scheme}{bits}: mean |error| {mean:.5f}, max {largest:.4f}; {count:,} weights"
        assert text.startswith(expected), f"bit-width explorer after {what}: expected {expected!r}, shows {text!r}"
        images.add(image)
    assert len(images) == len(steps), "every setting draws its own histogram"


def check_memory_planner(notebook: Notebook) -> None:
    """Every dropdown, the rank slider (a key, a typed rank) and both checkboxes."""
    panel = Panel(notebook, "LoRA on", "05-memory-planner")
    settings = {"model": "Llama-3.1-8B", "method": "qlora_nf4", "rank": 16, "targets": "all-linear", "seq_len": 512,
                "batch": 1, "grad_checkpointing": True, "double_quant": True}
    steps = [("default", None, {}),
             ("model LLaMA-65B", panel.choose("model", "LLaMA-65B"), {"model": "LLaMA-65B"}),
             ("method lora_bf16", panel.choose("method", "lora_bf16"), {"method": "lora_bf16"}),
             ("arrow up on the rank slider", panel.press_key("ArrowUp"), {"rank": 17}),
             ("rank 64 typed", panel.type_value(64), {"rank": 64}),
             ("sequence 2048", panel.choose("sequence", "2048"), {"seq_len": 2048}),
             ("batch 4", panel.choose("batch", "4"), {"batch": 4}),
             ("gradient checkpointing unticked", panel.tick("gradient checkpointing", False), {"grad_checkpointing": False}),
             ("method qlora_nf4", panel.choose("method", "qlora_nf4"), {"method": "qlora_nf4"}),
             ("double quantisation unticked", panel.tick("double quantisation", False), {"double_quant": False}),
             ("LoRA on attention q, v", panel.choose("LoRA on", "attention q, v"), {"targets": "attention q, v"})]
    chosen = settings_after_each(steps, settings)
    # The planner's pure function is the student's estimator; "attention q, v" names the blocks' q and v layers.
    totals = notebook.evaluate(
        "[sum(estimate_training_memory(shapes[s['model']], s['method'], rank=s['rank'], seq_len=s['seq_len'], "
        "batch=s['batch'], grad_checkpointing=s['grad_checkpointing'], double_quant=s['double_quant'], "
        "targets='all-linear' if s['targets'] == 'all-linear' else tuple(g for g in shapes[s['model']].block_linears "
        "if g.split('.')[-1] in ('q_proj', 'v_proj', 'query', 'value'))).values()) "
        f"for s in {chosen!r}]")
    image = None
    for (what, action, _), expected, total in zip(steps, chosen, totals):
        text, new_image = panel.after(action, what)
        assert text.startswith(f"{expected['model']}, {expected['method']}: {total:.1f} GB estimated"), \
            f"memory planner after {what}: expected {total:.1f} GB for {expected}, the page shows {text!r}"
        assert new_image != image or what in ONE_RANK_MORE, f"the plot follows every setting (it marks the chosen method): {what}"
        image = new_image


def check_sharding_planner(notebook: Notebook) -> None:
    """Every dropdown and the rank slider (a key, a typed rank)."""
    panel = Panel(notebook, "ZeRO stage", "10-sharding-planner")
    settings = {"model": "Llama-3.1-70B", "method": "full_mixed", "stage": 3, "rank": 16}
    steps = [("default", None, {}),
             ("ZeRO stage 1", panel.choose("ZeRO stage", "1: optimizer"), {"stage": 1}),
             ("method qlora_nf4", panel.choose("method", "qlora_nf4"), {"method": "qlora_nf4"}),
             ("arrow right on the rank slider", panel.press_key("ArrowRight"), {"rank": 17}),
             ("rank 128 typed", panel.type_value(128), {"rank": 128}),
             ("model Llama-3.1-8B", panel.choose("model", "Llama-3.1-8B"), {"model": "Llama-3.1-8B"})]
    chosen = settings_after_each(steps, settings)
    totals = notebook.evaluate(
        "[[sum(model_states_per_gpu(shapes[s['model']], s['method'], n_gpus=n, stage=s['stage'], rank=s['rank'])"
        f".values()) for n in (1, 2, 4, 8)] for s in {chosen!r}]")
    image = None
    for (what, action, _), expected, per_gpu in zip(steps, chosen, totals):
        text, new_image = panel.after(action, what)
        shown = "; ".join(f"{n} GPU{'s' if n > 1 else ''} {gb:.1f} GB" for n, gb in zip((1, 2, 4, 8), per_gpu))
        assert text.startswith(f"{expected['model']}, {expected['method']}, stage {expected['stage']}: {shown} per GPU"), \
            f"sharding planner after {what}: expected {shown} for {expected}, the page shows {text!r}"
        assert new_image != image or what in ONE_RANK_MORE, f"the plot follows every setting: {what}"
        image = new_image


# Per lesson: its widgets, each as (its name, the lesson's call that builds it, the check of its controls).
WIDGETS = {
    "04_lora": [("rank explorer", "lora_rank_explorer(groups, lora_param_count, total_params, sweep)",
                 check_rank_explorer)],
    "05_qlora": [("bit-width explorer", "quantisation_explorer(sample[:65536], round_trip)", check_bit_width_explorer),
                 ("memory planner", 'memory_planner(estimate_training_memory, shapes, default="Llama-3.1-8B")',
                  check_memory_planner)],
    "10_beyond_one_device": [("sharding planner", "sharding_planner(model_states_per_gpu, shapes, "
                              'methods=PLANNED_METHODS, default="Llama-3.1-70B")', check_sharding_planner)],
}


@pytest.mark.parametrize("lesson", WIDGETS)
def test_a_lessons_widgets_follow_their_controls_on_a_clean_page(browser, lab: Lab, lesson):
    """The lesson run in the browser (Run All Cells) shows no stderr and no error; each widget's plot has no labels
    drawn over each other at its defaults, and the widget follows each of its controls."""
    notebook = Notebook(browser, lab, f"{lesson}/{lesson}.ipynb")
    try:
        notebook.run_all()
        assert not notebook.problems(), f"{lesson} shows stderr or errors in JupyterLab: {notebook.problems()}"
        prompts = notebook.page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
        assert all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), f"{lesson}: not every cell ran: {prompts}"
        source = "".join(notebook.page.locator(".jp-Notebook .cm-content").all_text_contents())
        for widget, call, check in WIDGETS[lesson]:
            assert call.split("(")[0] + "(" in source, f"{lesson} no longer builds its {widget} as `{call}`: update WIDGETS"
            assert not default_plot_overlaps(notebook, call), f"{widget}: labels drawn over each other"
            check(notebook)
    finally:
        notebook.close()


def answers(lesson: str) -> dict[str, str]:
    """Each exercise's answer cell as a student who solved it would type it: the solution without nbgrader's markers."""
    cells = json.loads(solution_notebook(ROOT, lesson).read_text())["cells"]
    return {cell["metadata"]["nbgrader"]["grade_id"]: re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n", "",
                                                             "".join(cell["source"]), flags=re.M)
            for cell in cells if cell["metadata"].get("nbgrader", {}).get("solution")}


def defined(code: str) -> str:
    """The name of the function that ``code`` defines."""
    return re.search(r"^def (\w+)\(", code, re.M)[1]


def answer(notebook: Notebook, code: str) -> None:
    """Type ``code`` over the student's answer cell that defines the same function."""
    defines = defined(code)
    cell = notebook.cells.filter(has=notebook.page.locator(".cm-content", has_text=f"def {defines}("))
    assert cell.count() == 1, f"one cell of the student notebook should define {defines}"
    notebook.edit(cell, code)
    notebook.page.keyboard.press("Escape")


def validate(notebook: Notebook) -> str:
    """Click Validate and return what its dialog says."""
    notebook.page.get_by_role("button", name="Validate", exact=True).click()
    dialog = notebook.page.locator(".jp-Dialog")
    dialog.wait_for(timeout=RUN_TIMEOUT_S * 1000)  # nbgrader runs the whole notebook first
    said = dialog.text_content() or ""
    notebook.page.screenshot(path=SHOTS / f"{STUDENT_LESSON}-validate-{'success' if 'Success' in said else 'failed'}.png")
    dialog.get_by_role("button", name="Ok").click()
    dialog.wait_for(state="detached")
    return said


def test_a_student_sees_validate_answers_runs_the_tests_and_validates(browser, lab: Lab):
    """Lesson 00's student notebook as binder/hide_instructor_panels sets JupyterLab up: the Validate button, none of
    nbgrader's instructor tools (the Nbgrader menu with Formgrader, the Create Assignment panel; the Formgrader, course
    and assignment list on the server). Then the first exercise answered and run, Validate, all answered, Validate."""
    solved = answers(STUDENT_LESSON)
    first, *others = solved
    notebook = Notebook(browser, lab, f"{STUDENT_LESSON}/{STUDENT_LESSON}.ipynb")
    try:
        page = notebook.page
        menus = page.locator(".lm-MenuBar-itemLabel").all_text_contents()
        assert {"File", "Run", "Kernel"} <= set(menus) and "Nbgrader" not in menus, menus
        panels = " ".join(page.locator(".lm-TabBar-tab").evaluate_all("tabs => tabs.map(t => t.title || t.textContent)"))
        assert "Table of Contents" in panels and "Create Assignment" not in panels, panels
        assert page.get_by_role("button", name="Validate", exact=True).is_visible()
        page.screenshot(path=SHOTS / "student-view.png")
        hidden = ("/formgrader", "/courses", "/assignments")
        assert {path: lab.status(path) for path in hidden} == dict.fromkeys(hidden, 404) and lab.status("/lab") == 200

        answer(notebook, solved[first])
        notebook.run_all()  # stops at the first exercise still unanswered
        outputs = "\n".join(page.locator(".jp-OutputArea-output").all_text_contents())
        assert f"{first.removesuffix('_answer')}: all visible tests passed" in outputs, \
            f"the answered exercise's tests pass in the browser:\n{outputs[-2000:]}"
        assert "NotImplementedError" in "".join(notebook.problems()), "the next exercise is still unanswered"
        said = validate(notebook)
        failed = said.count("The following cell failed")
        assert failed == len(others), f"Validate names the {len(others)} unanswered exercises' test cells: {said[:3000]}"
        for grade_id in others:
            assert f"{defined(solved[grade_id])}(" in said, \
                f"Validate shows where {grade_id} is still unanswered: {said[:3000]}"
        assert f"{defined(solved[first])}(" not in said, "the answered exercise passes: Validate does not name it"
        for grade_id in others:
            answer(notebook, solved[grade_id])
        said = validate(notebook)
        assert "Success! Your notebook passes all the tests." in said, said[:3000]
    finally:
        notebook.close()
