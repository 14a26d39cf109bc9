"""Draw the book's diagrams as PNG files: ``python tools/make_diagrams.py`` (run by nothing else).

The committed images must equal a fresh drawing; ``tests/test_book.py`` checks that, so edit this
file and re-run it rather than editing the PNGs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"question": "#eef2f7", "statsmodels": "#cfe3f7", "scikit-learn": "#f9dcc0",
           "XGBoost": "#d9ecd0", "Keras": "#f7d0d0", "PyTorch": "#e4d7f2"}


def box(ax, x, y, text, kind, width=0.18, height=0.11):
    """A rounded box; for a tool the first line (its name) is bold and the rest is smaller."""
    ax.add_patch(plt.Rectangle((x - width / 2, y - height / 2), width, height, facecolor=COLOURS[kind],
                               edgecolor="#4a4a4a", linewidth=1.0))
    if kind == "question":
        ax.text(x, y, text, ha="center", va="center", fontsize=9)
        return
    name, _, body = text.partition("\n")
    ax.text(x, y + height / 2 - 0.035, name, ha="center", va="center", fontsize=10.5, fontweight="bold")
    ax.text(x, y - 0.02, body, ha="center", va="center", fontsize=8, linespacing=1.35)


def arrow(ax, start, end, label=""):
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "#4a4a4a", "lw": 1.0})
    if label:
        ax.text((start[0] + end[0]) / 2 + 0.008, (start[1] + end[1]) / 2, label, fontsize=8,
                ha="left", va="center", color="#333333", style="italic")


def when_to_use_what(path: Path) -> None:
    """The decision diagram of the 'When to use what' page."""
    fig, ax = plt.subplots(figsize=(11, 5.8), dpi=100)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.01)
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    box(ax, 0.5, 0.92, "What is the question?", "question", width=0.2, height=0.09)
    questions = [(0.1, "Why? How large is an effect,\nand how sure are we?"),
                 (0.4, "What will happen? Predict\nfrom a table of features"),
                 (0.8, "Predict from images, text,\naudio or long sequences")]
    for x, text in questions:
        box(ax, x, 0.66, text, "question", width=0.2, height=0.12)
        arrow(ax, (0.5 + (x - 0.5) * 0.15, 0.875), (x, 0.72))
    leaves = [(0.1, "statsmodels\nOLS, GLM, time series:\ncoefficients, p-values,\nintervals, diagnostics", "statsmodels"),
              (0.3, "scikit-learn\npipelines, linear models,\nforests, SVMs, clustering,\nmodel selection", "scikit-learn"),
              (0.5, "XGBoost\ngradient-boosted trees,\nusually the most accurate\non tabular data", "XGBoost"),
              (0.7, "Keras 3\nstandard layers,\ncompile and fit,\nTF Serving, TFLite", "Keras"),
              (0.9, "PyTorch\nyour own training loop,\nresearch code,\nmost new models", "PyTorch")]
    for x, text, kind in leaves:
        box(ax, x, 0.27, text, kind, width=0.18, height=0.25)
    arrow(ax, (0.1, 0.6), (0.1, 0.395))
    arrow(ax, (0.37, 0.6), (0.3, 0.395), "a baseline,\nfirst")
    arrow(ax, (0.43, 0.6), (0.5, 0.395), "the last bit\nof accuracy")
    arrow(ax, (0.77, 0.6), (0.7, 0.395), "quick to ship")
    arrow(ax, (0.83, 0.6), (0.9, 0.395), "full control")
    ax.text(0.5, 0.05, "Statistics explains, machine learning predicts; many projects need both. "
            "On tables, start with a scikit-learn baseline.", ha="center", fontsize=9, color="#333333")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    when_to_use_what(out_dir / "when_to_use_what.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "images")
