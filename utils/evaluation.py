"""Evaluation helpers: bootstrap intervals and reliability tables (chapter 5, reused in chapter 12)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["bootstrap_interval", "reliability_table"]


def _as_1d(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty one-dimensional sequence of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite numbers only (no NaN or infinity)")
    return array


def bootstrap_interval(values: Any, *, resamples: int = 2000, level: float = 0.95, seed: int = 42) -> tuple[float, float, np.ndarray]:
    """Percentile bootstrap interval of the mean of ``values`` (e.g. one saving per test customer).

    The rows are resampled with replacement ``resamples`` times; the interval holds the middle
    ``level`` share of the resampled means. Returns ``(low, high, means)``, the means so that
    they can be plotted.
    """
    values = _as_1d("values", values)
    if not isinstance(resamples, (int, np.integer)) or resamples < 100:
        raise ValueError(f"resamples must be an integer >= 100, got {resamples!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    rows = np.random.default_rng(seed).integers(0, len(values), size=(int(resamples), len(values)))
    means = values[rows].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high), means


def reliability_table(y_true: Any, probability: Any, bins: int = 10) -> pd.DataFrame:
    """Calibration by equal-width probability bins, with the number of examples in each.

    One row per non-empty bin: its range, how many examples fall in it, their mean predicted
    probability and the share that are positive. Counts matter: a bin of five examples says
    little, however far its share lies from the diagonal.
    """
    y_true, probability = _as_1d("y_true", y_true), _as_1d("probability", probability)
    if len(y_true) != len(probability):
        raise ValueError(f"y_true and probability must have the same length, got {len(y_true)} and {len(probability)}")
    if not set(np.unique(y_true)) <= {0.0, 1.0}:
        raise ValueError("y_true must hold 0/1 labels only")
    if probability.min() < 0 or probability.max() > 1:
        raise ValueError("probability must lie in [0, 1]")
    if not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    rows = [{"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "count": int((which == b).sum()),
             "mean predicted": float(probability[which == b].mean()), "share positive": float(y_true[which == b].mean())}
            for b in range(bins) if (which == b).any()]
    return pd.DataFrame(rows).set_index("bin")
