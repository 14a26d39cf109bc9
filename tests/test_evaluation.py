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
    ({"values": [1.0, 2.0], "resamples": 10}, "resamples must be a whole number >= 100, got 10"),
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


# ---------------------------------------------------------------- top-k recommendations (chapter 7)
from utils.evaluation import precision_recall_at_k, top_k_unseen  # noqa: E402


def test_top_k_unseen_skips_seen_items_and_takes_the_highest_scores():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    seen = np.array([[True, False, False, False, False], [False, False, False, False, True]])
    top = top_k_unseen(scores, seen, k=2)
    assert [sorted(row) for row in top.tolist()] == [[1, 2], [2, 3]]


def test_precision_recall_at_k_counts_hits_per_user_and_skips_users_without_relevant_items():
    scores = np.array([[5.0, 4.0, 3.0, 2.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    seen = np.zeros_like(scores, dtype=bool)
    relevant = np.array([[True, False, False, True], [False, False, False, False], [True, True, True, True]])
    precision, recall = precision_recall_at_k(scores, seen, relevant, k=2)
    # user 0: top 2 = items 0, 1 -> 1 hit of 2 relevant; user 1 skipped; user 2: top 2 = items 3, 2 -> 2 hits of 4
    assert precision == pytest.approx((1 / 2 + 2 / 2) / 2)
    assert recall == pytest.approx((1 / 2 + 2 / 4) / 2)


def test_precision_at_k_of_a_perfect_ranking_is_one():
    rng = np.random.default_rng(0)
    relevant = rng.random((20, 50)) < 0.3
    relevant[:, :10] = True  # every user has at least 10 relevant items
    precision, _ = precision_recall_at_k(relevant.astype(float), np.zeros_like(relevant), relevant, k=10)
    assert precision == 1.0


@pytest.mark.parametrize("scores, seen, relevant, k, message", [
    (np.ones(4), np.zeros(4, bool), np.ones(4, bool), 2, "2-D array"),
    (np.ones((2, 4)), np.zeros((2, 3), bool), np.ones((2, 4), bool), 2, "same shape"),
    (np.ones((2, 4)), np.zeros((2, 4)), np.ones((2, 4), bool), 2, "boolean"),
    (np.full((2, 4), np.nan), np.zeros((2, 4), bool), np.ones((2, 4), bool), 2, "NaN"),
    (np.ones((2, 4)), np.zeros((2, 4), bool), np.ones((2, 4), bool), 0, "k must be a whole number >= 1"),
    (np.ones((2, 4)), np.array([[True, True, True, False], [False] * 4]), np.zeros((2, 4), bool), 2, "only 1"),
    (np.ones((2, 4)), np.zeros((2, 4), bool), np.ones((2, 3), bool), 2, "relevant must be"),
    (np.ones((2, 4)), np.eye(2, 4, dtype=bool), np.eye(2, 4, dtype=bool), 2, "both seen"),
    (np.ones((2, 4)), np.zeros((2, 4), bool), np.zeros((2, 4), bool), 2, "no user has a relevant item"),
])
def test_precision_recall_at_k_rejects_bad_input_with_a_clear_message(scores, seen, relevant, k, message):
    with pytest.raises(ValueError, match=message):
        precision_recall_at_k(scores, seen, relevant, k=k)


def test_top_k_unseen_never_returns_a_seen_item_even_when_unseen_ones_score_minus_infinity():
    scores = np.array([[9.0, 8.0, -np.inf, -np.inf, 7.0]])
    seen = np.array([[True, True, False, False, False]])
    assert sorted(top_k_unseen(scores, seen, k=3)[0].tolist()) == [2, 3, 4]


def test_known_item_scores_of_hand_ranked_queries():
    from utils.evaluation import known_item_scores

    similarity = np.array([[0.9, 0.1, 0.2],   # answer first
                           [0.8, 0.5, 0.1],   # answer second
                           [0.3, 0.3, 0.3]])  # a three-way tie: ranks third
    scores = known_item_scores(similarity, k=2)
    assert scores == pytest.approx({"top-1": 1 / 3, "top-2": 2 / 3, "MRR": (1 + 1 / 2 + 1 / 3) / 3})
    assert known_item_scores(np.eye(5), k=3) == {"top-1": 1.0, "top-3": 1.0, "MRR": 1.0}


@pytest.mark.parametrize("similarity, k, message", [
    (np.ones((2, 3)), 1, "square matrix"),
    (np.ones((1, 1)), 1, "square matrix"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), 1, "NaN"),
    (np.eye(3), 4, "k must be an integer between 1 and the number of documents"),
    (np.eye(3), 0.5, "k must be an integer"),
])
def test_known_item_scores_rejects_bad_input(similarity, k, message):
    from utils.evaluation import known_item_scores

    with pytest.raises(ValueError, match=message):
        known_item_scores(similarity, k=k)
