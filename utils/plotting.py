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
