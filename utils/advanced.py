"""Plumbing for chapter 10 (advanced topics): measuring compressed models, averaging federated
updates, a graph-only baseline and CORAL, each small enough to read, tested in tests/test_advanced_utils.py.

The chapter writes out the ideas it teaches (pruning, distillation, FedAvg's round, the GCN layer);
what lives here is the measuring and bookkeeping around them.
"""

from __future__ import annotations

import io
import time
import zlib
from typing import Any

import numpy as np

__all__ = ["size_kb", "latency_ms", "nonzero_parameters", "weighted_average", "label_propagation", "coral",
           "rank_correlation", "map_correlation"]


def size_kb(model: Any) -> float:
    """Kilobytes of the model's saved ``state_dict`` after zlib compression (level 9) (chapter 10).

    Zeros compress, so this is what pruning saves in a download.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return len(zlib.compress(buffer.getvalue(), level=9)) / 1024


def latency_ms(model: Any, X: Any, *, repeats: int = 50, rounds: int = 5) -> dict:
    """Milliseconds of one forward pass on ``X``, timed in ``rounds`` rounds of ``repeats`` calls (chapter 10).

    Returns ``{"median": ..., "low": ..., "high": ...}``: the median over all timed calls, and the
    smallest and largest of the rounds' medians. Two models whose [low, high] ranges overlap cannot
    be told apart by this timing; only a difference larger than that spread is worth a sentence.
    Each round starts with two untimed warm-up calls.
    """
    import torch

    if repeats < 1 or rounds < 1:
        raise ValueError(f"repeats and rounds must be positive, got {repeats} and {rounds}")
    model.eval()
    round_medians, everything = [], []
    with torch.no_grad():
        for _ in range(rounds):
            model(X)
            model(X)
            timings = []
            for _ in range(repeats):
                start = time.perf_counter()
                model(X)
                timings.append(time.perf_counter() - start)
            round_medians.append(float(np.median(timings)))
            everything += timings
    return {"median": 1000 * float(np.median(everything)), "low": 1000 * min(round_medians),
            "high": 1000 * max(round_medians)}


def nonzero_parameters(model: Any) -> int:
    """Parameters that are not zero; quantised weights are compared after converting them back to floats (chapter 10)."""
    import torch

    count = 0
    for p in model.parameters():
        try:
            count += int(torch.count_nonzero(p))
        except NotImplementedError:  # torchao's int8 tensors implement only what inference needs
            count += int(torch.count_nonzero(p.dequantize()))
    return count


def weighted_average(models: list, weights: Any) -> dict:
    """The parameters of ``models`` averaged with ``weights`` (normalised to sum to 1): FedAvg's server step (chapter 10).

    Returns a ``state_dict``-like mapping from parameter name to tensor, for ``load_state_dict``.
    """
    import torch

    if not models:
        raise ValueError("weighted_average needs at least one model")
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.shape != (len(models),) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"need one non-negative weight per model ({len(models)}), not all zero; got {weights.tolist()}")
    weights = weights / weights.sum()
    states = [dict(m.named_parameters()) for m in models]
    with torch.no_grad():
        return {name: sum(w * state[name] for w, state in zip(weights, states)).detach().clone() for name in states[0]}


def label_propagation(A_hat: Any, labelled: Any, labels: Any, num_classes: int, *, alpha: float = 0.9,
                      iterations: int = 50) -> Any:
    """Classes from the graph alone (Zhou et al., 2004): spread the known labels along the edges (chapter 10).

    Iterates ``F <- alpha * A_hat @ F + (1 - alpha) * Y``, where ``Y`` is one-hot on the labelled
    nodes and zero elsewhere, and returns each node's arg-max class. It never looks at node features:
    the baseline that says how much of a graph network's accuracy the graph alone explains.
    """
    import torch

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    Y = torch.zeros(A_hat.shape[0], num_classes)
    Y[labelled, labels] = 1.0
    F = Y.clone()
    for _ in range(iterations):
        F = alpha * (A_hat @ F) + (1 - alpha) * Y
    return F.argmax(dim=1)


def _matrix_power(matrix: np.ndarray, power: float, ridge: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix + ridge * np.eye(len(matrix)))
    return (vectors * np.clip(values, ridge, None) ** power) @ vectors.T


def coral(source: Any, target: Any, *, ridge: float = 1.0) -> np.ndarray:
    """CORAL (Sun, Feng and Saenko, 2016): re-colour the source features with the target's covariance (chapter 10).

    Whitens ``source`` with its own covariance (plus ``ridge`` on the diagonal, as the paper does)
    and colours it with the target's, so that a classifier trained on the result sees source
    examples with the target's second-order statistics. The mean of the target is added too. Uses
    no target labels.
    """
    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"source and target must be 2-D with the same columns, got {source.shape} and {target.shape}")
    centred = source - source.mean(axis=0)
    whitened = centred @ _matrix_power(np.cov(source, rowvar=False), -0.5, ridge)
    return whitened @ _matrix_power(np.cov(target, rowvar=False), 0.5, ridge) + target.mean(axis=0)


def rank_correlation(a: Any, b: Any) -> float:
    """Spearman rank correlation of two attribution maps' absolute values (chapter 10's sanity check)."""
    from scipy.stats import spearmanr

    a, b = np.abs(np.asarray(a, dtype=float).ravel()), np.abs(np.asarray(b, dtype=float).ravel())
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.shape} and {b.shape}")
    return float(spearmanr(a, b).statistic)


def map_correlation(a: Any, b: Any, *, where: Any = None) -> float:
    """Pearson correlation of two signed attribution maps, over the pixels where ``where`` is true (chapter 10).

    Restricting to the inked pixels matters for integrated gradients with a black baseline: they are
    exactly zero wherever the image is zero, for any network, so all-pixel comparisons look alike.
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps of different sizes: {a.shape} and {b.shape}")
    keep = np.ones_like(a, dtype=bool) if where is None else np.asarray(where, dtype=bool).ravel()
    if keep.sum() < 3:
        raise ValueError("need at least three pixels to correlate")
    return float(np.corrcoef(a[keep], b[keep])[0, 1])
