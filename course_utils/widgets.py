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
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    rank = widgets.IntSlider(value=8, min=1, max=64, description="rank r", continuous_update=False)
    boxes = {name: widgets.Checkbox(value=name in default_targets, description=name, indent=False)
             for name in groups}
    output = widgets.Output()

    def redraw(_=None) -> None:
        chosen = [name for name, box in boxes.items() if box.value]
        with output:
            output.clear_output(wait=True)
            if not chosen:
                print("Tick at least one layer type to adapt.")
                return
            budget = lora_budget(groups, chosen, rank.value, param_count, total_params)
            print(f"r={budget['rank']} on {budget['layers']} layers: {budget['trainable_params']:,} trainable "
                  f"parameters = {budget['percent_of_model']:.3f}% of the model, adapter {budget['adapter_mb']:.2f} MB (fp32)")
            if sweep:
                fig, ax = plt.subplots(figsize=(6, 3.2))
                ax.plot(list(sweep), list(sweep.values()), marker="o", label="measured (query + value)")
                ax.axvline(rank.value, linestyle="--", color="grey", label=f"r = {rank.value}")
                ax.set(xscale="log", title="Accuracy vs LoRA rank", xlabel="rank r (log scale)", ylabel="test accuracy")
                ax.legend()
                plt.show()

    rank.observe(redraw, names="value")
    for box in boxes.values():
        box.observe(redraw, names="value")
    redraw()
    panel = widgets.VBox([rank, widgets.HBox(list(boxes.values()), layout=widgets.Layout(flex_flow="row wrap")), output])
    display(panel)
    return panel
