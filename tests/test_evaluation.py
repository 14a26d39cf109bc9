"""Tests for utils.evaluation: bootstrap intervals and reliability tables (chapter 5)."""

import numpy as np
import pytest

from utils.evaluation import bootstrap_interval, reliability_table


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_rows():
    rng = np.random.default_rng(0)
    small, large = rng.normal(3.0, 1.0, 100), rng.normal(3.0, 1.0, 10_000)
    low_s, high_s, means = bootstrap_interval(small, seed=1)
    low_l, high_l, _ = bootstrap_interval(large, seed=1)
    assert low_s < small.mean() < high_s and low_l < large.mean() < high_l
    assert (high_l - low_l) < (high_s - low_s) / 5  # about 1/sqrt(100) as wide
    assert len(means) == 2000
    # the usual normal-theory interval agrees for a sample this size
    half_width = 1.96 * large.std(ddof=1) / np.sqrt(len(large))
    assert abs((high_l - low_l) / 2 - half_width) < 0.1 * half_width


def test_bootstrap_interval_is_reproducible_by_seed_and_level_widens_it():
    values = np.arange(50.0)
    assert bootstrap_interval(values, seed=3)[:2] == bootstrap_interval(values, seed=3)[:2]
    low_90, high_90, _ = bootstrap_interval(values, level=0.9, seed=3)
    low_99, high_99, _ = bootstrap_interval(values, level=0.99, seed=3)
    assert low_99 < low_90 and high_90 < high_99


@pytest.mark.parametrize("kwargs, message", [
    ({"values": []}, "non-empty"),
    ({"values": [1.0, np.nan]}, "finite"),
    ({"values": [[1.0, 2.0]]}, "one-dimensional"),
    ({"values": [1.0, 2.0], "resamples": 10}, "resamples"),
    ({"values": [1.0, 2.0], "level": 1.5}, "level"),
])
def test_bootstrap_interval_rejects_bad_input_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_interval(**kwargs)


def test_reliability_table_counts_means_and_shares_per_bin():
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0, 0.5])
    table = reliability_table(y, p, bins=10)
    assert list(table.index) == ["0.0-0.1", "0.1-0.2", "0.5-0.6", "0.9-1.0"]  # empty bins are left out
    assert table["count"].tolist() == [1, 2, 1, 2] and table["count"].sum() == len(y)
    assert table.loc["0.1-0.2", "mean predicted"] == pytest.approx(0.135)
    assert table.loc["0.1-0.2", "share positive"] == pytest.approx(0.5)
    assert table.loc["0.9-1.0", "share positive"] == 1.0  # p = 1.0 lands in the last bin


def test_reliability_table_of_calibrated_probabilities_lies_near_the_diagonal():
    rng = np.random.default_rng(0)
    p = rng.random(200_000)
    y = (rng.random(len(p)) < p).astype(int)
    table = reliability_table(y, p, bins=5)
    assert np.abs(table["share positive"] - table["mean predicted"]).max() < 0.01


@pytest.mark.parametrize("y, p, bins, message", [
    ([0, 1], [0.2], 10, "same length"),
    ([0, 2], [0.2, 0.3], 10, "0/1"),
    ([0, 1], [0.2, 1.3], 10, r"\[0, 1\]"),
    ([0, 1], [0.2, 0.3], 1, "bins"),
])
def test_reliability_table_rejects_bad_input_by_name(y, p, bins, message):
    with pytest.raises(ValueError, match=message):
        reliability_table(y, p, bins=bins)
