"""Chapter 12's capstones: the generators of their synthetic data, causal feature builders, and the
statistics that put an interval on every score (paired bootstrap, Diebold-Mariano, calibration).

Each generator states its process in its docstring and takes a NumPy ``Generator``, so a project
draws its data from its own stream and never depends on the cells run before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from utils.validate import whole_number

__all__ = ["PUMP_SENSORS", "ROAD_SCENES", "average_precision", "bootstrap_difference", "calibration_slope_intercept", "diebold_mariano",
           "roc_auc",
           "flow_features", "place_off_centre", "pooled_box_features", "pump_history_features", "recentre",
           "render_road_frames", "simulate_flows", "simulate_fleet"]

PUMP_SENSORS = ("temperature", "vibration", "pressure")
ROAD_SCENES = ("empty road", "car", "pedestrian", "car and pedestrian")


def _generator(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng




# ---------------------------------------------------------------- 12.1 off-centre digits
def place_off_centre(images: Any, rng: np.random.Generator, size: int = 16, noise: float = 0.05) -> np.ndarray:
    """Paste each 8 x 8 image at a uniformly random position of a ``size`` x ``size`` canvas, plus Gaussian noise."""
    images, rng = np.asarray(images, dtype=np.float32), _generator(rng)
    if images.ndim != 3 or images.shape[1:] != (8, 8):
        raise ValueError(f"images must have shape (n, 8, 8), got {images.shape}")
    size = whole_number("size", size, minimum=8)
    canvases = np.zeros((len(images), size, size), dtype=np.float32)
    rows, cols = rng.integers(0, size - 8 + 1, size=(2, len(images)))
    for canvas, image, row, col in zip(canvases, images, rows, cols):
        canvas[row:row + 8, col:col + 8] = image
    return canvases + rng.normal(0, noise, canvases.shape).astype(np.float32)


def recentre(canvases: Any) -> np.ndarray:
    """Shift each square canvas (cyclically) so that its centre of mass, of positive pixels, lands in the middle."""
    canvases = np.asarray(canvases, dtype=np.float32)
    if canvases.ndim != 3 or canvases.shape[1] != canvases.shape[2]:
        raise ValueError(f"canvases must have shape (n, size, size), got {canvases.shape}")
    size = canvases.shape[-1]
    rows, cols = np.mgrid[:size, :size]
    centred = np.empty_like(canvases)
    for i, canvas in enumerate(canvases):
        positive = np.clip(canvas, 0, None)
        if positive.sum() == 0:
            centred[i] = canvas
            continue
        weight = positive / positive.sum()
        shift = (round((size - 1) / 2 - (weight * rows).sum()), round((size - 1) / 2 - (weight * cols).sum()))
        centred[i] = np.roll(canvas, shift, axis=(0, 1))
    return centred


# ---------------------------------------------------------------- 12.3 pumps
def simulate_fleet(num_pumps: int, rng: np.random.Generator, horizon: int = 10) -> pd.DataFrame:
    """Run-to-failure histories of ``num_pumps`` pumps, one row per cycle.

    Each pump wears at its own rate (log-normal around 1/150 per cycle) times gamma-distributed
    daily wear, plus shocks on 2% of cycles, and fails when its wear reaches 1. Temperature rises
    linearly with wear, vibration with its cube, pressure is noise. ``fails_soon`` marks the
    last ``horizon`` cycles before the failure.
    """
    num_pumps, rng, horizon = whole_number("num_pumps", num_pumps), _generator(rng), whole_number("horizon", horizon)
    rows = []
    for pump in range(num_pumps):
        rate = rng.lognormal(np.log(1 / 150), 0.35)
        base_temperature, base_vibration = rng.normal(70, 3), rng.normal(1.0, 0.1)
        wear, cycle = 0.0, 0
        while wear < 1:
            cycle += 1
            wear += rate * rng.gamma(2.0, 0.5) + (rng.random() < 0.02) * rng.uniform(0.02, 0.08)
            rows.append({"pump": pump, "cycle": cycle,
                         "temperature": base_temperature + 12 * wear + rng.normal(0, 4),
                         "vibration": base_vibration * (1 + 2.5 * wear ** 3) + rng.normal(0, 0.6),
                         "pressure": rng.normal(30, 1.5)})
    fleet = pd.DataFrame(rows)
    fleet["cycles_left"] = fleet.groupby("pump")["cycle"].transform("max") - fleet["cycle"]
    fleet["fails_soon"] = (fleet["cycles_left"] < horizon).astype(int)
    return fleet


def pump_history_features(fleet: pd.DataFrame, windows: tuple[int, ...] = (5, 20), baseline_cycles: int = 20) -> pd.DataFrame:
    """History features of every cycle that use only that cycle and the ones before it (no look-ahead).

    Rolling means of each sensor over each window, the change of vibration over each window, and
    the rise of temperature above the pump's own running-in level: the mean of its first
    ``baseline_cycles`` cycles, or of the cycles so far while it is younger than that. Rows must
    be sorted by pump and cycle.
    """
    missing = {"pump", "cycle", *PUMP_SENSORS} - set(fleet.columns)
    if missing:
        raise ValueError(f"fleet lacks the columns {sorted(missing)}")
    ordered = fleet.sort_values(["pump", "cycle"], kind="stable")
    if not ordered.index.equals(fleet.index):
        raise ValueError("fleet must be sorted by pump, then cycle")
    by_pump = fleet.groupby("pump")
    features = {}
    for window in windows:
        for sensor in PUMP_SENSORS:
            features[f"{sensor}_mean{window}"] = by_pump[sensor].transform(lambda s: s.rolling(window, min_periods=1).mean())
        features[f"vibration_change{window}"] = by_pump["vibration"].transform(lambda s: s - s.shift(window)).fillna(0)
    running_in = by_pump["temperature"].transform(lambda s: s.expanding().mean().where(np.arange(len(s)) < baseline_cycles).ffill())
    features["temperature_rise"] = features[f"temperature_mean{max(windows)}"] - running_in
    return pd.DataFrame(features, index=fleet.index)


# ---------------------------------------------------------------- 12.7 network flows
def simulate_flows(n: int, rng: np.random.Generator, attack_share: float = 0.02) -> pd.DataFrame:
    """Network flows: log-normal web, DNS and SSH traffic, plus port scans, exfiltration and floods.

    Attacks are ``attack_share`` of the flows, a third of each type. Scans touch 10-300 ports with
    a few bytes per packet; exfiltration moves megabytes, 60% of it at night; floods send
    thousands of small packets.
    """
    n, rng = whole_number("n", n), _generator(rng)
    if not 0 < attack_share < 1:
        raise ValueError(f"attack_share must lie strictly between 0 and 1, got {attack_share!r}")
    kind = rng.choice(["normal", "scan", "exfiltration", "flood"], size=n, p=[1 - attack_share, *[attack_share / 3] * 3])
    hour = np.where(rng.random(n) < 0.8, rng.normal(14, 3, n), rng.uniform(0, 24, n)) % 24
    bytes_ = rng.lognormal(8, 1.3, n)
    packets = np.ceil(bytes_ / rng.uniform(500, 1400, n))
    duration = rng.lognormal(0, 1, n)
    ports = np.ones(n)
    port = rng.choice([443, 80, 53, 22, 25, 8080], size=n, p=[0.6, 0.2, 0.12, 0.04, 0.02, 0.02])
    scan, exfiltration, flood = kind == "scan", kind == "exfiltration", kind == "flood"
    ports[scan] = rng.integers(10, 300, scan.sum())
    packets[scan] = ports[scan] * rng.integers(1, 3, scan.sum())
    bytes_[scan] = packets[scan] * rng.uniform(40, 80, scan.sum())
    duration[scan] = rng.uniform(0.5, 5, scan.sum())
    port[scan] = rng.integers(1, 65535, scan.sum())
    bytes_[exfiltration] = rng.lognormal(13, 1, exfiltration.sum())
    packets[exfiltration] = np.ceil(bytes_[exfiltration] / 1400)
    hour[exfiltration] = np.where(rng.random(exfiltration.sum()) < 0.6, rng.uniform(1, 5, exfiltration.sum()),
                                  rng.normal(14, 3, exfiltration.sum()) % 24)
    duration[exfiltration] = rng.lognormal(3, 1, exfiltration.sum())
    packets[flood] = rng.integers(500, 5_000, flood.sum())
    bytes_[flood] = packets[flood] * rng.uniform(40, 200, flood.sum())
    duration[flood] = rng.uniform(1, 20, flood.sum())
    return pd.DataFrame({"kind": kind, "hour": hour, "bytes": bytes_, "packets": packets, "duration": duration,
                         "distinct_ports": ports, "port": port})


def flow_features(flows: pd.DataFrame, port_share: pd.Series) -> pd.DataFrame:
    """Seven numeric features of each flow; ``port_share`` (port -> share of reference traffic) sets port rarity."""
    return pd.DataFrame({"log bytes": np.log(flows["bytes"]), "log packets": np.log(flows["packets"]),
                         "log bytes per packet": np.log(flows["bytes"] / flows["packets"]),
                         "log duration": np.log(flows["duration"]), "log distinct ports": np.log(flows["distinct_ports"]),
                         "port rarity": -np.log(flows["port"].map(port_share).fillna(1e-4)),
                         "night": np.cos(2 * np.pi * flows["hour"] / 24)})


# ---------------------------------------------------------------- 12.9 road frames
def render_road_frames(n: int, rng: np.random.Generator, size: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic road frames and their labels (indices into ROAD_SCENES: 0 empty, 1 car, 2 pedestrian, 3 both).

    A road with a vertical gradient and sensor noise, a dashed lane marking at a random column,
    0-2 shadows or asphalt patches, a car (a bright 6 x 4 block) and/or a pedestrian (a dimmer
    2 x 5 figure) anywhere, and a brightness factor from dusk (0.6) to glare (1.4).
    """
    n, rng, size = whole_number("n", n), _generator(rng), whole_number("size", size, minimum=12)
    labels = rng.integers(0, 4, n)
    frames = np.linspace(0.15, 0.35, size)[:, None] * np.ones((size, size)) + rng.normal(0, 0.08, (n, size, size))
    for frame, label in zip(frames, labels):
        lane = rng.integers(6, size - 6)
        for start in range(rng.integers(0, 3), size, 6):  # dashed lane marking, 1 x 3 dashes
            frame[start:start + 3, lane] += rng.uniform(0.3, 0.6)
        for _ in range(rng.integers(0, 3)):  # shadows and patches of repaired asphalt: distractors
            row, col, height, width = rng.integers(0, size - 6), rng.integers(0, size - 6), rng.integers(2, 7), rng.integers(2, 7)
            frame[row:row + height, col:col + width] += rng.uniform(-0.25, 0.25)
        if label in (1, 3):
            row, col = rng.integers(0, size - 4), rng.integers(0, size - 6)
            frame[row:row + 4, col:col + 6] += rng.uniform(0.35, 0.7)
        if label in (2, 3):
            row, col = rng.integers(0, size - 5), rng.integers(0, size - 2)
            frame[row:row + 5, col:col + 2] += rng.uniform(0.3, 0.55)
        frame *= rng.uniform(0.6, 1.4)  # daylight, dusk, glare
    return frames.astype(np.float32), labels


def pooled_box_features(frames: Any, boxes: tuple[tuple[int, int], ...] = ((4, 6), (5, 2), (3, 1), (3, 3))) -> np.ndarray:
    """Translation-tolerant features: for each box shape, the contrast of every box with its surround, pooled over the frame.

    Each frame is divided by its median (brightness), then for every ``(height, width)`` box the mean
    inside the box minus the mean of the ring one pixel wide around it is computed at every position
    (with an integral image). Pooling keeps the largest, the second-largest and the mean contrast, so
    the features do not depend on where an object is. Returns ``(n, 3 * len(boxes))``.
    """
    frames = np.asarray(frames, dtype=float)
    if frames.ndim != 3:
        raise ValueError(f"frames must have shape (n, height, width), got {frames.shape}")
    frames = frames / np.median(frames.reshape(len(frames), -1), axis=1).clip(1e-6)[:, None, None]
    integral = np.pad(frames.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))

    def box_sums(h, w):  # sum over every h x w window, for every frame
        return integral[:, h:, w:] - integral[:, :-h, w:] - integral[:, h:, :-w] + integral[:, :-h, :-w]

    pooled = []
    for h, w in boxes:
        if not (1 <= h <= frames.shape[1] - 2 and 1 <= w <= frames.shape[2] - 2):
            raise ValueError(f"box {(h, w)} does not fit, with its surround, in frames of {frames.shape[1:]}")
        inner, outer = box_sums(h, w)[:, 1:-1, 1:-1], box_sums(h + 2, w + 2)
        contrast = (inner / (h * w) - (outer - inner) / ((h + 2) * (w + 2) - h * w)).reshape(len(frames), -1)
        top_two = np.sort(contrast, axis=1)[:, -2:]
        pooled += [top_two[:, 1], top_two[:, 0], contrast.mean(axis=1)]
    return np.stack(pooled, axis=1)


# ---------------------------------------------------------------- intervals and tests
def average_precision(y_true: Any, score: Any) -> float:
    """Average precision (PR-AUC) exactly as scikit-learn's ``average_precision_score`` computes it, ties
    included, without its input checks: fast enough to be recomputed on a thousand bootstrap resamples."""
    y, score = np.asarray(y_true, dtype=float), np.asarray(score, dtype=float)
    if y.shape != score.shape or y.ndim != 1 or not y.any():
        raise ValueError("y_true and score must be one-dimensional, of equal length, with at least one positive")
    order = np.argsort(-score, kind="mergesort")
    y, score = y[order], score[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # a threshold between distinct scores only
    true_positives = np.cumsum(y)[last_of_tie]
    precision, recall = true_positives / (last_of_tie + 1), true_positives / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(y_true: Any, score: Any) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count one half), equal to scikit-learn's ``roc_auc_score``
    for binary labels, without its input checks: for bootstrap resamples."""
    from scipy.stats import rankdata

    y, score = np.asarray(y_true, dtype=bool), np.asarray(score, dtype=float)
    positives = int(y.sum())
    if y.shape != score.shape or y.ndim != 1 or positives in (0, len(y)):
        raise ValueError("y_true and score must be one-dimensional, of equal length, with both classes present")
    ranks = rankdata(score)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * (len(y) - positives)))


def _resampled_rows(n: int, rng: np.random.Generator, groups: np.ndarray | None, strata: np.ndarray | None,
                    block: int | None) -> np.ndarray:
    if groups is not None:  # resample whole groups (pumps, users): rows of one group move together
        names, inverse = np.unique(groups, return_inverse=True)
        members = [np.flatnonzero(inverse == g) for g in range(len(names))]
        return np.concatenate([members[g] for g in rng.integers(0, len(names), len(names))])
    if strata is not None:  # resample within each stratum (a week keeps its size)
        return np.concatenate([rng.choice(np.flatnonzero(strata == s), size=(strata == s).sum()) for s in np.unique(strata)])
    if block is not None:  # moving blocks: neighbouring days stay together, so autocorrelation survives
        starts = rng.integers(0, n - block + 1, int(np.ceil(n / block)))
        return (starts[:, None] + np.arange(block)).ravel()[:n]
    return rng.integers(0, n, n)


def bootstrap_difference(statistic: Callable[[np.ndarray], float], n: int, *, groups: Any = None, strata: Any = None,
                         block: int | None = None, resamples: int = 1000, level: float = 0.95, seed: int = 42) -> dict[str, float]:
    """Percentile bootstrap interval of ``statistic(rows)``, typically model minus baseline on the same test rows.

    ``statistic`` receives an array of row indices (with repeats) into the ``n`` test rows and returns one
    number; the same resampled rows serve both models, so the interval is that of the paired difference.
    Resample rows independently (default), whole ``groups`` (one label per row), rows within ``strata``, or
    moving blocks of ``block`` consecutive rows (time series). Returns the estimate on all rows, the
    interval's ends and the share of resamples at or below zero.
    """
    n = whole_number("n", n, minimum=2)
    chosen = [name for name, value in [("groups", groups), ("strata", strata), ("block", block)] if value is not None]
    if len(chosen) > 1:
        raise ValueError(f"choose one resampling scheme, got {chosen}")
    groups = None if groups is None else np.asarray(groups)
    strata = None if strata is None else np.asarray(strata)
    for name, labels in [("groups", groups), ("strata", strata)]:
        if labels is not None and labels.shape != (n,):
            raise ValueError(f"{name} must hold one label per row ({n}), got shape {labels.shape}")
    if block is not None and not (isinstance(block, (int, np.integer)) and 1 <= block <= n):
        raise ValueError(f"block must be an integer between 1 and n={n}, got {block!r}")
    whole_number("resamples", resamples, minimum=100)
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(_resampled_rows(n, rng, groups, strata, block)) for _ in range(resamples)], dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError("statistic returned a non-finite value on a resample (e.g. an AUC on rows of one class)")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return {"estimate": float(statistic(np.arange(n))), "low": float(low), "high": float(high),
            "share_at_or_below_zero": float(np.mean(values <= 0))}


def diebold_mariano(loss_a: Any, loss_b: Any, horizon: int = 1) -> dict[str, float]:
    """Diebold-Mariano test of equal forecast accuracy, with the Harvey-Leybourne-Newbold small-sample correction.

    ``loss_a`` and ``loss_b`` are the per-period losses (e.g. squared errors) of two forecasts of the same
    series. Returns the mean loss difference (a minus b: negative means a is better), the statistic and
    the two-sided p-value from Student's t with n - 1 degrees of freedom.
    """
    from scipy import stats

    a, b = np.asarray(loss_a, dtype=float), np.asarray(loss_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 10:
        raise ValueError(f"loss_a and loss_b must be one-dimensional, of equal length >= 10, got {a.shape} and {b.shape}")
    horizon = whole_number("horizon", horizon)
    d = a - b
    n, centred = len(d), d - d.mean()
    variance = centred @ centred / n + 2 * sum(centred[k:] @ centred[:-k] / n for k in range(1, horizon))
    if variance <= 0:
        raise ValueError("the two forecasts' losses are identical: there is nothing to test")
    correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    statistic = correction * d.mean() / np.sqrt(variance / n)
    return {"mean_difference": float(d.mean()), "statistic": float(statistic),
            "p_value": float(2 * stats.t.sf(abs(statistic), df=n - 1))}


def calibration_slope_intercept(y_true: Any, probability: Any) -> dict[str, float]:
    """Calibration slope and intercept of predicted probabilities (1 and 0 when they mean what they say).

    The slope is b in logit P(y) = a + b logit(p): below 1, predictions are too extreme. The intercept
    ("calibration in the large") is a in logit P(y) = a + logit(p), the slope held at 1: above 0, risk is
    under-predicted on average.
    """
    import statsmodels.api as sm

    y, p = np.asarray(y_true, dtype=float), np.asarray(probability, dtype=float)
    if y.ndim != 1 or y.shape != p.shape or len(y) < 10:
        raise ValueError(f"y_true and probability must be one-dimensional, of equal length >= 10, got {y.shape} and {p.shape}")
    if not set(np.unique(y)) <= {0.0, 1.0} or len(np.unique(y)) < 2:
        raise ValueError("y_true must hold 0/1 labels, with both present")
    if not np.all((p > 0) & (p < 1)):
        raise ValueError("probability must lie strictly between 0 and 1")
    logit = np.log(p / (1 - p))
    slope = sm.GLM(y, sm.add_constant(logit), family=sm.families.Binomial()).fit().params[1]
    intercept = sm.GLM(y, np.ones_like(y), family=sm.families.Binomial(), offset=logit).fit().params[0]
    return {"slope": float(slope), "intercept": float(intercept)}
