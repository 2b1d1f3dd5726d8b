"""One plotting style for the course: titled, labelled axes with units, readable in light and dark themes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def use_course_style() -> None:
    """Apply the course's matplotlib style (white figure background so dark themes stay readable)."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (7, 4), "figure.dpi": 100, "figure.facecolor": "white",
        "axes.facecolor": "white", "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
        "axes.spines.right": False, "axes.titleweight": "bold", "axes.prop_cycle": mpl.cycler(color=COLORS),
        "legend.frameon": False, "font.size": 11,
    })


def plot_loss_curves(curves: Mapping[str, Sequence[tuple[int, float]]], title: str = "Training loss",
                     ax: Axes | None = None) -> Axes:
    """Loss against step for one or more runs, e.g. ``{"full FT": record.loss_curve}``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots()[1]
    for label, curve in curves.items():
        steps, losses = zip(*curve) if curve else ((), ())
        ax.plot(steps, losses, label=label)
    ax.set(title=title, xlabel="optimiser step", ylabel="loss (cross-entropy, nats)")
    if len(curves) > 1:
        ax.legend()
    return ax


def plot_bars(values: Mapping[str, float], title: str, ylabel: str, limits: Mapping[str, float] | None = None,
              log: bool = False, ax: Axes | None = None) -> Axes:
    """A bar per entry, with optional horizontal reference lines (e.g. GPU memory budgets)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots()[1]
    ax.bar(list(values), list(values.values()), color=COLORS[0])
    for i, (label, limit) in enumerate((limits or {}).items()):
        ax.axhline(limit, linestyle="--", color=COLORS[(i + 1) % len(COLORS)], label=label)
    if limits:
        ax.legend()
    if log:
        ax.set_yscale("log")
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", rotation=20)
    return ax


def plot_distributions(distributions: Mapping[str, Sequence[float]], classes: Sequence[str], title: str,
                       ax: Axes | None = None) -> Axes:
    """Probability distributions over the same classes side by side: a group of bars per class, one bar per
    distribution (e.g. one e-mail's soft targets at several temperatures)."""
    import matplotlib.pyplot as plt
    import numpy as np

    ax = ax or plt.subplots(figsize=(10, 3.8), layout="constrained")[1]
    width = 0.8 / max(len(distributions), 1)
    for i, (label, probabilities) in enumerate(distributions.items()):
        ax.bar(np.arange(len(classes)) + (i - (len(distributions) - 1) / 2) * width, probabilities, width,
               label=label, color=COLORS[i % len(COLORS)])
    ax.set_xticks(np.arange(len(classes)), list(classes), rotation=20, ha="right")
    ax.set(title=title, ylabel="probability")
    ax.legend()
    return ax


def plot_train_validation(loss_curves: Mapping[str, Sequence[tuple[int, float]]],
                          validation_curves: Mapping[str, Sequence[tuple[float, float]]], title: str) -> Figure:
    """Training loss per step beside validation accuracy per epoch, one line per run: still learning, or over-fitting?"""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    plot_loss_curves(loss_curves, title="training loss", ax=left)
    for label, curve in validation_curves.items():
        epochs, accuracy = zip(*curve) if curve else ((), ())
        right.plot(epochs, accuracy, marker="o", label=label)
    right.set(title="validation accuracy after each epoch", xlabel="epoch", ylabel="accuracy")
    if len(validation_curves) > 1:
        right.legend()
    fig.suptitle(title)
    return fig


def plot_lines(x: Sequence[float], series: Mapping[str, Sequence[float]], title: str, xlabel: str, ylabel: str,
               logx: bool = False, ax: Axes | None = None) -> Axes:
    """One line with markers per series over a shared x, e.g. accuracy against labelled examples."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots()[1]
    for label, ys in series.items():
        ax.plot(x, ys, marker="o", label=label)
    if logx:
        ax.set_xscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    return ax


def plot_embeddings_2d(points: np.ndarray, labels: Sequence[int], names: Sequence[str], title: str,
                       ax: Axes | None = None) -> Axes:
    """A 2-D scatter of embeddings (e.g. a PCA projection), coloured by class."""
    import matplotlib.pyplot as plt
    import numpy as np

    ax = ax or plt.subplots(figsize=(6, 5))[1]
    points, labels = np.asarray(points), np.asarray(labels)
    for i, name in enumerate(names):
        chosen = labels == i
        ax.scatter(points[chosen, 0], points[chosen, 1], s=12, alpha=0.7, color=COLORS[i % len(COLORS)], label=name)
    ax.set(title=title, xlabel="component 1", ylabel="component 2")
    ax.legend(fontsize=8, markerscale=1.5, loc="best")
    return ax
