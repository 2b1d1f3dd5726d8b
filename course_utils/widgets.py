"""Interactive explorers. Each widget only wires controls to pure functions: the computing functions
(often the student's own, passed in) are graded elsewhere, the wiring here is not."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence


def lora_budget(groups: Mapping[str, Sequence[tuple[int, int]]], targets: Sequence[str], rank: int,
                param_count: Callable[[int, int, int], int], total_params: int, bytes_per_param: float = 4.0) -> dict:
    """Trainable LoRA parameters, their share of the model and the adapter's size for a rank and targets.

    ``groups`` maps a layer name to its ``(in, out)`` shapes (``models.linear_layer_groups``);
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
                       default_targets: Sequence[str] = ("attention.self.query", "attention.self.value")):
    """A rank slider (1-64) and target-layer checkboxes showing LoRA's budget, next to accuracy vs rank.

    ``sweep`` maps rank -> measured accuracy (computed once, cached); the widget only reads it.
    """
    import base64
    import io

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
            ax.legend()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", bbox_inches="tight")
            plt.close(fig)
            image = f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"/>'
        view.value = f"<p>{text}</p>{image}"

    rank.observe(redraw, names="value")
    for box in boxes.values():
        box.observe(redraw, names="value")
    redraw()
    panel = widgets.VBox([rank, widgets.HBox(list(boxes.values()), layout=widgets.Layout(flex_flow="row wrap")), view])
    display(panel)
    return panel
