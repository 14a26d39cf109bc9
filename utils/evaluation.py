"""Evaluation helpers: bootstrap intervals and reliability tables (chapter 5, reused in chapter 12),
and top-k recommendation scores (chapter 7)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from utils.validate import whole_number

__all__ = ["bootstrap_interval", "precision_recall_at_k", "reliability_table", "top_k_unseen"]


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
    resamples = whole_number("resamples", resamples, minimum=100)
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
    bins = whole_number("bins", bins, minimum=2)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    rows = [{"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "count": int((which == b).sum()),
             "mean predicted": float(probability[which == b].mean()), "share positive": float(y_true[which == b].mean())}
            for b in range(bins) if (which == b).any()]
    return pd.DataFrame(rows).set_index("bin")


def _ranking_inputs(scores: Any, seen: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores, seen = np.asarray(scores, dtype=float), np.asarray(seen)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D array (users x items), got shape {scores.shape}")
    if seen.shape != scores.shape or seen.dtype != bool:
        raise ValueError(f"seen must be a boolean array of the same shape as scores {scores.shape}, got {seen.dtype} {seen.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores must not hold NaN (use -inf for items that must never be recommended)")
    k = whole_number("k", k)
    fewest_unseen = int((~seen).sum(axis=1).min())
    if fewest_unseen < k:
        raise ValueError(f"every user needs at least k={k} unseen items to recommend; one has only {fewest_unseen}")
    return scores, seen


def _top_k(scores: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
    # an unseen item scored -inf still ranks above every seen one: seen items get -inf, unseen -inf the lowest finite float
    ranked = np.where(seen, -np.inf, np.maximum(scores, np.finfo(float).min))
    return np.argpartition(-ranked, k - 1, axis=1)[:, :k]


def top_k_unseen(scores: Any, seen: Any, k: int = 10) -> np.ndarray:
    """Each user's ``k`` highest-scoring items among those not marked ``seen`` (chapter 7).

    ``scores`` and ``seen`` are users x items arrays; returns a users x k array of item
    (column) indices, in no particular order. Items a user has seen are never returned, even
    where unseen items score ``-inf``.
    """
    scores, seen = _ranking_inputs(scores, seen, k)
    return _top_k(scores, seen, k)


def precision_recall_at_k(scores: Any, seen: Any, relevant: Any, k: int = 10) -> tuple[float, float]:
    """Mean precision@k and recall@k of the top-k unseen items (chapter 7).

    ``relevant`` marks the held-out items each user liked (users x items, boolean). Only users
    with at least one relevant item count. Precision@k: the share of a user's k items that are
    relevant; recall@k: the share of the user's relevant items among the k.
    """
    scores, seen = _ranking_inputs(scores, seen, k)
    relevant = np.asarray(relevant)
    if relevant.shape != scores.shape or relevant.dtype != bool:
        raise ValueError(f"relevant must be a boolean array of the same shape as scores {scores.shape}, got {relevant.dtype} {relevant.shape}")
    if (relevant & seen).any():
        raise ValueError("an item cannot be both seen (in training) and relevant (held out) for the same user")
    n_relevant = relevant.sum(axis=1)
    keep = n_relevant > 0
    if not keep.any():
        raise ValueError("no user has a relevant item: precision and recall are undefined")
    hits = np.take_along_axis(relevant, _top_k(scores, seen, k), axis=1).sum(axis=1)
    return float(hits[keep].mean() / k), float((hits[keep] / n_relevant[keep]).mean())


def known_item_scores(similarity: Any, k: int = 10) -> dict[str, float]:
    """Scores of a search where query ``i``'s one right answer is document ``i`` (chapter 9's inverse cloze test).

    ``similarity[i, j]`` is how well document ``j`` matches query ``i``. Returns the share of queries
    whose answer ranks first, the share with it in the top ``k``, and the mean reciprocal rank
    (ties count against the answer: it ranks below every document scored as high as it).
    """
    similarity = np.asarray(similarity, dtype=float)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1] or len(similarity) < 2:
        raise ValueError(f"similarity must be a square matrix (queries x documents, at least 2 x 2), got shape {similarity.shape}")
    if np.isnan(similarity).any():
        raise ValueError("similarity holds NaN")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(similarity):
        raise ValueError(f"k must be an integer between 1 and the number of documents ({len(similarity)}), got {k!r}")
    answer = np.diag(similarity)[:, None]
    rank = (similarity >= answer).sum(axis=1)  # 1 = first; a tie with another document counts against the answer
    return {"top-1": float((rank == 1).mean()), f"top-{k}": float((rank <= k).mean()), "MRR": float((1 / rank).mean())}
