"""Tests for utils.advanced: chapter 10's measuring and bookkeeping helpers."""

import numpy as np
import pytest
import torch
from torch import nn

from utils.advanced import coral, map_correlation, label_propagation, latency_ms, nonzero_parameters, rank_correlation, size_kb, weighted_average


def test_size_kb_shrinks_when_weights_are_zero():
    torch.manual_seed(0)
    dense = nn.Linear(64, 64)
    sparse = nn.Linear(64, 64)
    with torch.no_grad():
        sparse.weight.zero_()
    assert size_kb(sparse) < size_kb(dense) / 3


def test_nonzero_parameters_counts_weights_and_biases():
    layer = nn.Linear(4, 3)
    assert nonzero_parameters(layer) == 15
    with torch.no_grad():
        layer.weight[0].zero_()
    assert nonzero_parameters(layer) == 11


def test_latency_ms_reports_a_median_inside_its_round_range():
    timing = latency_ms(nn.Linear(8, 2), torch.zeros(4, 8), repeats=5, rounds=3)
    assert set(timing) == {"median", "low", "high"}
    assert 0 < timing["low"] <= timing["high"]
    with pytest.raises(ValueError):
        latency_ms(nn.Linear(8, 2), torch.zeros(4, 8), repeats=0)


def test_weighted_average_is_fedavg_server_step():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        a.weight.fill_(1.0), a.bias.fill_(0.0), b.weight.fill_(4.0), b.bias.fill_(3.0)
    averaged = weighted_average([a, b], [2, 1])  # weights normalised to 2/3 and 1/3
    assert torch.allclose(averaged["weight"], torch.full((1, 2), 2.0))
    assert torch.allclose(averaged["bias"], torch.tensor([1.0]))
    target = nn.Linear(2, 1)
    target.load_state_dict(averaged)
    with pytest.raises(ValueError):
        weighted_average([a, b], [0, 0])
    with pytest.raises(ValueError):
        weighted_average([], [])


def test_label_propagation_follows_the_components_of_a_graph():
    # two triangles joined by nothing: labels spread inside each, never across
    A = torch.zeros(6, 6)
    for i, j in [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]:
        A[i, j] = A[j, i] = 1
    A += torch.eye(6)
    d = A.sum(dim=1).rsqrt()
    predictions = label_propagation(d[:, None] * A * d[None, :], torch.tensor([0, 3]), torch.tensor([1, 0]), 2)
    assert predictions.tolist() == [1, 1, 1, 0, 0, 0]
    with pytest.raises(ValueError):
        label_propagation(A, torch.tensor([0]), torch.tensor([0]), 2, alpha=1.0)


def test_coral_gives_the_source_the_target_covariance_and_mean():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(2000, 3)) * [1.0, 2.0, 0.5]
    mixing = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0]])
    target = rng.normal(size=(2000, 3)) @ mixing + 5.0
    aligned = coral(source, target, ridge=1e-9)
    assert np.allclose(np.cov(aligned, rowvar=False), np.cov(target, rowvar=False), atol=1e-6)
    assert np.allclose(aligned.mean(axis=0), target.mean(axis=0))
    with pytest.raises(ValueError):
        coral(source, target[:, :2])


def test_rank_correlation_of_attribution_maps_ignores_sign():
    a = np.arange(10.0)
    assert rank_correlation(a, -a) == pytest.approx(1.0)
    assert abs(rank_correlation(a, np.random.default_rng(0).permutation(a))) < 0.8
    with pytest.raises(ValueError):
        rank_correlation(a, a[:5])


def test_map_correlation_keeps_sign_and_can_ignore_pixels():
    a = np.array([1.0, 2.0, 3.0, 0.0, 0.0])
    assert map_correlation(a, 2 * a) == pytest.approx(1.0)
    assert map_correlation(a, -a) == pytest.approx(-1.0)
    b = np.array([3.0, 2.0, 1.0, 0.0, 0.0])  # opposite on the inked pixels, equal (zero) elsewhere
    assert map_correlation(a, b, where=a > 0) == pytest.approx(-1.0)
    assert map_correlation(a, b) > map_correlation(a, b, where=a > 0)
    with pytest.raises(ValueError):
        map_correlation(a, b, where=a > 2.5)
