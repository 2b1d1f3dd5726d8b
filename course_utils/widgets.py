"""Interactive explorers. Each widget only wires controls to pure functions: the computing functions
(often the student's own, passed in) are graded elsewhere, the wiring here is not."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from .recipes import TRAINING_METHODS

if TYPE_CHECKING:
    import ipywidgets
    import torch
    from matplotlib.figure import Figure

    from .architectures import ArchitectureShape

# Memory of the GPUs the course plans for, in GB as their makers state it.
GPU_BUDGETS_GB = {"T4": 16, "RTX 3090/4090": 24, "A100 40GB": 40, "A100 80GB": 80}


def figure_html(fig: Figure) -> str:
    """A matplotlib figure as an inline <img> (widgets render into HTML values; see lora_rank_explorer)."""
    import base64
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"/>'


def lora_budget(groups: Mapping[str, Sequence[tuple[int, int]]], targets: Sequence[str], rank: int,
                param_count: Callable[[int, int, int], int], total_params: int, bytes_per_param: float = 4.0) -> dict:
    """Trainable LoRA parameters, their share of the model and the adapter's size for a rank and targets.

    ``groups`` maps a layer name to its ``(in, out)`` shapes (``architectures.linear_layer_groups``);
    ``param_count(d_in, d_out, r)`` counts one layer's LoRA parameters.
    """
    unknown = [t for t in targets if t not in groups]
    if unknown:
        raise ValueError(f"No layers called {', '.join(unknown)}: choose from {', '.join(groups)}.")
    params = sum(param_count(d_in, d_out, rank) for t in targets for d_in, d_out in groups[t])
    return {"rank": rank, "targets": list(targets), "layers": sum(len(groups[t]) for t in targets),
            "trainable_params": params, "percent_of_model": 100.0 * params / total_params,
            "adapter_mb": params * bytes_per_param / 1e6}


def lora_rank_explorer(groups: Mapping[str, Sequence[tuple[int, int]]], param_count: Callable[[int, int, int], int],
                       total_params: int, sweep: Mapping[int, float] | None = None,
                       default_targets: Sequence[str] = ("attention.self.query", "attention.self.value")) -> ipywidgets.VBox:
    """A rank slider (1-64) and target-layer checkboxes showing LoRA's budget, next to accuracy vs rank.

    ``sweep`` maps rank -> measured accuracy (computed once, cached); the widget only reads it.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    rank = widgets.IntSlider(value=8, min=1, max=64, description="rank r", continuous_update=False)
    boxes = {name: widgets.Checkbox(value=name in default_targets, description=name, indent=False)
             for name in groups}
    # An HTML widget, not an Output widget: headless runs (papermill, nbgrader) only send its new value.
    view = widgets.HTML()

    def redraw(_=None) -> None:
        chosen = [name for name, box in boxes.items() if box.value]
        if not chosen:
            view.value = "<p>Tick at least one layer type to adapt.</p>"
            return
        budget = lora_budget(groups, chosen, rank.value, param_count, total_params)
        text = (f"r={budget['rank']} on {budget['layers']} layers: {budget['trainable_params']:,} trainable "
                f"parameters = {budget['percent_of_model']:.3f}% of the model, adapter {budget['adapter_mb']:.2f} MB (fp32)")
        image = ""
        if sweep:
            fig, ax = plt.subplots(figsize=(6, 3.2))
            ax.plot(list(sweep), list(sweep.values()), marker="o", label="measured (query + value)")
            ax.axvline(rank.value, linestyle="--", color="grey", label=f"r = {rank.value}")
            ax.set(xscale="log", title="Accuracy vs LoRA rank", xlabel="rank r (log scale)", ylabel="test accuracy")
            ax.set_xticks(list(sweep), [str(r) for r in sweep], minor=False)  # ticks at the ranks that were trained
            ax.set_xticks([], minor=True)
            ax.legend()
            image = figure_html(fig)
        view.value = f"<p>{text}</p>{image}"

    rank.observe(redraw, names="value")
    for box in boxes.values():
        box.observe(redraw, names="value")
    redraw()
    panel = widgets.VBox([rank, widgets.HBox(list(boxes.values()), layout=widgets.Layout(flex_flow="row wrap")), view])
    display(panel)
    return panel


def quantisation_explorer(weights: torch.Tensor, round_trip: Callable[..., torch.Tensor], bits_choices: Sequence[int] = (2, 3, 4, 8),
                          schemes: Sequence[str] = ("int", "nf"), block_size: int = 64) -> ipywidgets.VBox:
    """Bit-width and scheme buttons showing the reconstruction error of ``weights`` and their memory.

    ``round_trip(weights, bits, scheme)`` quantises and dequantises (the student's functions); memory
    counts ``bits`` per weight plus one fp32 absmax per block of ``block_size``.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.display import display

    bits = widgets.ToggleButtons(options=list(bits_choices), value=4, description="bits")
    scheme = widgets.ToggleButtons(options=list(schemes), value=schemes[-1], description="scheme")
    view = widgets.HTML()
    flat = weights.detach().flatten().float()

    # Shared axes for every setting, so switching bits or scheme compares like with like: a nearest-code round
    # trip with codes spanning [-1, 1] and an exact 0 errs by at most half its block's absmax.
    error_limit = 0.5 * float(flat.abs().max()) if flat.numel() else 0.0

    def redraw(_=None) -> None:
        error = (round_trip(flat, bits.value, scheme.value) - flat).abs()
        kilobytes = flat.numel() * (bits.value + 32 / block_size) / 8 / 1e3
        top = max(error_limit, float(error.max()) if error.numel() else 0.0, 1e-12)  # wider only for a wrong round trip
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.hist(error.numpy(), bins=np.linspace(0.0, top, 81), log=True)
        ax.axvline(float(error.mean()), color="black", linestyle="--", linewidth=1, label=f"mean {error.mean():.5f}")
        ax.legend(fontsize=8)
        ax.set(xlim=(0.0, top), ylim=(0.8, max(flat.numel(), 1) * 1.5),
               title=f"{scheme.value}{bits.value}: absolute error per weight", xlabel="|w - dequantised w|",
               ylabel="weights (log scale)")
        view.value = (f"<p>{scheme.value}{bits.value}: mean |error| {error.mean():.5f}, max {error.max():.4f}; "
                      f"{flat.numel():,} weights take {kilobytes:,.1f} KB "
                      f"(fp32: {flat.numel() * 4 / 1e3:,.1f} KB)</p>{figure_html(fig)}")

    bits.observe(redraw, names="value")
    scheme.observe(redraw, names="value")
    redraw()
    panel = widgets.VBox([bits, scheme, view])
    display(panel)
    return panel


def memory_bars(plans: Mapping[str, Mapping[str, float]], components: Sequence[str], title: str,
                chosen: str | None = None) -> tuple[Figure, list[float]]:
    """Stacked bars of GB per component for each plan (the bars' labels are the keys), the ``chosen`` plan's outlined
    and its label in bold, with the GPU budgets as dashed lines labelled on a right-hand axis (outside the bars, so no
    label covers one); the figure and each bar's total."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    bottom = [0.0] * len(plans)
    for part in components:
        values = [plan[part] for plan in plans.values()]
        ax.bar(list(plans), values, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values)]
    if chosen is not None:
        at = list(plans).index(chosen)
        ax.bar([at], [bottom[at]], fill=False, edgecolor="black", linewidth=2)
        ax.get_xticklabels()[at].set_fontweight("bold")
    for gb in GPU_BUDGETS_GB.values():
        ax.axhline(gb, linestyle="--", linewidth=0.8, color="grey")
    ax.set(title=title, ylabel="GB", yscale="log" if max(bottom) > 200 else "linear")
    ax.legend(loc="upper right", fontsize=8)
    budgets = ax.twinx()
    budgets.set(yscale=ax.get_yscale(), ylim=ax.get_ylim())
    budgets.set_yticks(list(GPU_BUDGETS_GB.values()), [f"{name} {gb} GB" for name, gb in GPU_BUDGETS_GB.items()], fontsize=8)
    budgets.set_yticks([], minor=True)
    return fig, bottom


def show_panel(controls: Sequence[ipywidgets.Widget], rows: Sequence[int], redraw: Callable[..., None],
               view: ipywidgets.HTML) -> ipywidgets.VBox:
    """Redraw on every control's change, draw once, and display the controls (``rows``: how many per line) above ``view``."""
    import ipywidgets as widgets
    from IPython.display import display

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    lines, start = [], 0
    for count in rows:
        lines.append(widgets.HBox(list(controls[start:start + count])))
        start += count
    panel = widgets.VBox([*lines, view])
    display(panel)
    return panel


def memory_planner(estimate: Callable[..., Mapping[str, float]], shapes: Mapping[str, ArchitectureShape],
                   default: str | None = None) -> ipywidgets.VBox:
    """Model, method, rank, sequence, batch, checkpointing and double quantisation -> stacked memory bars
    for every method next to the GPU budgets, and a "fits / does not fit" verdict for the chosen one.

    ``estimate(shape, method, rank=, targets=, seq_len=, batch=, grad_checkpointing=, double_quant=)`` returns GB per
    component (weights, gradients, optimizer, activations): the student's estimator.
    """
    import ipywidgets as widgets

    model = widgets.Dropdown(options=list(shapes), value=default or list(shapes)[0], description="model")
    method = widgets.Dropdown(options=list(TRAINING_METHODS), value="qlora_nf4", description="method")
    rank = widgets.IntSlider(value=16, min=1, max=256, description="LoRA rank", continuous_update=False)
    targets = widgets.Dropdown(options=["all-linear", "attention q, v"], value="all-linear", description="LoRA on")
    seq_len = widgets.Dropdown(options=[256, 512, 1024, 2048, 4096], value=512, description="sequence")
    batch = widgets.Dropdown(options=[1, 2, 4, 8, 16], value=1, description="batch")
    checkpointing = widgets.Checkbox(value=True, description="gradient checkpointing", indent=False)
    double_quant = widgets.Checkbox(value=True, description="double quantisation", indent=False)
    view = widgets.HTML()
    components = ("weights", "gradients", "optimizer", "activations")

    def redraw(_=None) -> None:
        shape = shapes[model.value]
        chosen = "all-linear" if targets.value == "all-linear" else tuple(
            g for g in shape.block_linears if g.split(".")[-1] in ("q_proj", "v_proj", "query", "value"))
        settings = dict(rank=rank.value, targets=chosen, seq_len=seq_len.value, batch=batch.value,
                        grad_checkpointing=checkpointing.value, double_quant=double_quant.value)
        plans = {m: estimate(shape, m, **settings) for m in TRAINING_METHODS}
        fig, _ = memory_bars(plans, components, f"{model.value}: training memory by method", chosen=method.value)
        total = sum(plans[method.value][part] for part in components)
        fits = [name for name, gb in GPU_BUDGETS_GB.items() if total <= gb]
        verdict = (f"fits on: {', '.join(fits)}" if fits else "does not fit on any single GPU listed")
        view.value = (f"<p><b>{model.value}, {method.value}</b>: {total:.1f} GB estimated "
                      f"({', '.join(f'{p} {plans[method.value][p]:.1f}' for p in components)}); {verdict}.</p>"
                      f"{figure_html(fig)}")

    return show_panel((model, method, rank, targets, seq_len, batch, checkpointing, double_quant), (4, 4), redraw, view)


def sharding_planner(estimate: Callable[..., Mapping[str, float]], shapes: Mapping[str, ArchitectureShape],
                     methods: Sequence[str], gpu_counts: Sequence[int] = (1, 2, 4, 8), default: str | None = None
                     ) -> ipywidgets.VBox:
    """Model, method, ZeRO stage and LoRA rank -> the model states each GPU holds (stacked bars) for every number of
    GPUs in ``gpu_counts``, next to the GPU budgets, and the fewest GPUs of each kind that hold them.

    ``estimate(shape, method, n_gpus=, stage=, rank=)`` returns GB per GPU for parameters, gradients and optimizer.
    """
    import ipywidgets as widgets

    model = widgets.Dropdown(options=list(shapes), value=default or list(shapes)[0], description="model")
    method = widgets.Dropdown(options=list(methods), value=methods[0], description="method")
    stage = widgets.Dropdown(options=[("0 (DDP)", 0), ("1: optimizer", 1), ("2: + gradients", 2), ("3: + parameters", 3)],
                             value=3, description="ZeRO stage")
    rank = widgets.IntSlider(value=16, min=1, max=256, description="LoRA rank", continuous_update=False)
    view = widgets.HTML()
    components = ("parameters", "gradients", "optimizer")

    def redraw(_=None) -> None:
        shape = shapes[model.value]
        plans = {n: estimate(shape, method.value, n_gpus=n, stage=stage.value, rank=rank.value) for n in gpu_counts}
        labels = {n: f"{n} GPU{'s' if n > 1 else ''}" for n in gpu_counts}
        fig, bottom = memory_bars({labels[n]: plans[n] for n in gpu_counts}, components,
                                  f"{model.value}, {method.value}, ZeRO stage {stage.value}: model states per GPU")
        totals = dict(zip(gpu_counts, bottom))
        fewest = [f"{next(n for n in gpu_counts if totals[n] <= gb)}× {name}" for name, gb in GPU_BUDGETS_GB.items()
                  if any(totals[n] <= gb for n in gpu_counts)]
        verdict = (f"the model states fit on {', '.join(fewest)}" if fewest
                   else f"the model states fit on none of these with up to {max(gpu_counts)} GPUs")
        view.value = (f"<p><b>{model.value}, {method.value}, stage {stage.value}</b>: "
                      + "; ".join(f"{labels[n]} {totals[n]:.1f} GB" for n in gpu_counts)
                      + f" per GPU; {verdict} (activations come on top).</p>{figure_html(fig)}")

    return show_panel((model, method, stage, rank), (2, 2), redraw, view)
