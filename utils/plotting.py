"""One plotting style for every chapter."""

from __future__ import annotations

COURSE_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")


def set_plot_style() -> None:
    """Apply the course's Matplotlib/seaborn style: PNG output, readable sizes (chapter 1)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "savefig.format": "png",
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.frameon": False,
            "axes.prop_cycle": cycler(color=list(COURSE_COLORS)),
            "image.cmap": "viridis",
        }
    )
    try:  # inline figures as PNG only: SVG output embeds a date and changes on every run
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # plain Python, no IPython: nothing to configure
        return
    set_matplotlib_formats("png")


def plot_cv_scores(scores, metric: str, ax=None, title: str | None = None):
    """Dot plot of cross-validation scores: one row per model, mean ± std over folds, folds as faint dots (chapter 2).

    ``scores`` maps a model name to its per-fold scores (higher is better); rows are sorted by
    mean, best on top. The axis is not cut at zero: position, not length, carries the value.
    Returns the Matplotlib axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not isinstance(scores, dict) or not scores:
        raise ValueError("scores must be a non-empty dict {model name: per-fold scores}")
    folds = {}
    for name, values in scores.items():
        array = np.asarray(values, dtype=float)
        if array.ndim != 1 or array.size < 2 or not np.isfinite(array).all():
            raise ValueError(f"scores[{name!r}] must be 2 or more finite per-fold scores, got {values!r}")
        folds[name] = array
    order = sorted(folds, key=lambda name: folds[name].mean())
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(order) + 1.2))
    for row, name in enumerate(order):
        ax.scatter(folds[name], np.full(folds[name].size, row), s=12, color="grey", alpha=0.45, zorder=2)
        ax.errorbar(folds[name].mean(), row, xerr=folds[name].std(), fmt="o", color=COURSE_COLORS[0], capsize=4, zorder=3)
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel(f"{metric} (mean ± std over folds; grey: single folds)")
    if title:
        ax.set_title(title)
    return ax
