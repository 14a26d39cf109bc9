"""Tests of utils.capstone: chapter 12's data generators, causal features and interval statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from utils import capstone as cap


def rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- generators
def test_generators_are_reproducible_from_their_generator_and_refuse_a_seed_number():
    for make in [lambda r: cap.simulate_fleet(5, r), lambda r: cap.simulate_flows(500, r),
                 lambda r: cap.render_road_frames(20, r)[0]]:
        first, second = make(rng(3)), make(rng(3))
        if isinstance(first, pd.DataFrame):
            pd.testing.assert_frame_equal(first, second)
        else:
            np.testing.assert_array_equal(first, second)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        cap.simulate_fleet(5, 42)


def test_place_off_centre_keeps_the_whole_digit_and_recentre_moves_its_mass_to_the_middle():
    digit = np.zeros((1, 8, 8), np.float32)
    digit[0, 2:6, 3:5] = 1.0
    canvas = cap.place_off_centre(digit, rng(), size=16, noise=0.0)
    assert canvas.shape == (1, 16, 16) and canvas.sum() == pytest.approx(digit.sum())
    centred = cap.recentre(canvas)[0]
    rows, cols = np.nonzero(centred)
    assert abs(rows.mean() - 7.5) <= 0.5 and abs(cols.mean() - 7.5) <= 0.5
    assert np.array_equal(cap.recentre(np.zeros((1, 4, 4)))[0], np.zeros((4, 4)))  # nothing to centre: unchanged
    with pytest.raises(ValueError, match=r"\(n, 8, 8\)"):
        cap.place_off_centre(np.zeros((2, 7, 7)), rng())


def test_fleet_runs_every_pump_to_failure_and_marks_the_last_cycles():
    fleet = cap.simulate_fleet(20, rng(), horizon=10)
    last = fleet.groupby("pump").tail(1)
    assert (last["cycles_left"] == 0).all() and fleet["pump"].nunique() == 20
    assert (fleet.groupby("pump")["fails_soon"].sum() == np.minimum(fleet.groupby("pump").size(), 10)).all()
    assert fleet[["temperature", "vibration"]].corrwith(fleet["cycle"] / fleet.groupby("pump")["cycle"].transform("max")).min() > 0.3


def test_pump_history_features_never_look_ahead():
    fleet = cap.simulate_fleet(6, rng(1))
    before = cap.pump_history_features(fleet)
    changed = fleet.copy()
    late = changed["cycle"] > 12  # rewrite the future of every pump
    changed.loc[late, list(cap.PUMP_SENSORS)] += 100.0
    after = cap.pump_history_features(changed)
    early = ~late
    pd.testing.assert_frame_equal(before[early], after[early])  # a cycle's features depend on the past only
    young = fleet["cycle"] == 5  # while running in, the 20-cycle mean is the running-in level: no rise yet
    np.testing.assert_allclose(before.loc[young, "temperature_rise"], 0, atol=1e-9)
    later = fleet["cycle"] == 25
    running_in = fleet[fleet["cycle"] <= 20].groupby("pump")["temperature"].mean()
    recent = fleet[fleet["cycle"].between(6, 25)].groupby("pump")["temperature"].mean()
    np.testing.assert_allclose(before.loc[later, "temperature_rise"], (recent - running_in).to_numpy())
    with pytest.raises(ValueError, match="sorted"):
        cap.pump_history_features(fleet.iloc[::-1])
    with pytest.raises(ValueError, match="pressure"):
        cap.pump_history_features(fleet.drop(columns="pressure"))


def test_flows_hold_the_three_attack_types_and_features_are_finite():
    flows = cap.simulate_flows(6000, rng(), attack_share=0.06)
    shares = flows["kind"].value_counts(normalize=True)
    assert set(shares.index) == {"normal", "scan", "exfiltration", "flood"}
    assert shares["normal"] == pytest.approx(0.94, abs=0.01)
    assert (flows.loc[flows["kind"] == "scan", "distinct_ports"] >= 10).all()
    assert (flows.loc[flows["kind"] == "normal", "distinct_ports"] == 1).all()
    features = cap.flow_features(flows, flows["port"].value_counts(normalize=True))
    assert features.shape == (6000, 7) and np.isfinite(features.to_numpy()).all()
    with pytest.raises(ValueError, match="attack_share"):
        cap.simulate_flows(10, rng(), attack_share=1.5)


def test_road_frames_and_pooled_features_do_not_depend_on_where_the_object_is():
    frames, labels = cap.render_road_frames(40, rng())
    assert frames.shape == (40, 24, 24) and set(labels) <= {0, 1, 2, 3}
    road = np.full((1, 24, 24), 0.3)
    left, right = road.copy(), road.copy()
    left[0, 8:12, 7:13] += 0.5  # the same car at two places, each far enough from the border
    right[0, 11:15, 10:16] += 0.5
    features = cap.pooled_box_features(np.concatenate([left, right]))
    assert features.shape == (2, 12)
    np.testing.assert_allclose(features[0], features[1], atol=1e-9)  # moved, same features
    assert not np.allclose(cap.pooled_box_features(road), features[:1])  # but the car is seen
    with pytest.raises(ValueError, match="does not fit"):
        cap.pooled_box_features(road, boxes=((30, 2),))


# ---------------------------------------------------------------- statistics
def test_average_precision_matches_scikit_learn_with_and_without_ties():
    from sklearn.metrics import average_precision_score

    generator = rng(8)
    for _ in range(20):
        y = generator.random(300) < 0.1
        y[0] = True
        for score in [generator.random(300), generator.integers(0, 5, 300).astype(float), y + generator.random(300)]:
            assert cap.average_precision(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-12)
    with pytest.raises(ValueError, match="at least one positive"):
        cap.average_precision(np.zeros(5), np.arange(5))


def test_roc_auc_matches_scikit_learn_with_and_without_ties():
    from sklearn.metrics import roc_auc_score

    generator = rng(9)
    for _ in range(20):
        y = generator.random(200) < 0.3
        for score in [generator.random(200), generator.integers(0, 4, 200).astype(float)]:
            assert cap.roc_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        cap.roc_auc(np.ones(5), np.arange(5))


def test_bootstrap_difference_covers_a_known_difference_and_honours_its_scheme():
    generator = rng(5)
    a, b = generator.normal(1.0, 1.0, 400), generator.normal(0.0, 1.0, 400)
    result = cap.bootstrap_difference(lambda rows: a[rows].mean() - b[rows].mean(), 400, seed=1)
    assert result["low"] < 1.0 < result["high"] and result["high"] - result["low"] < 0.5
    assert result["estimate"] == pytest.approx(a.mean() - b.mean()) and result["share_at_or_below_zero"] == 0
    seen = []
    groups = np.repeat(np.arange(10), 5)
    cap.bootstrap_difference(lambda rows: seen.append(rows) or 0.0, 50, groups=groups, resamples=100)
    assert all(len(np.unique(np.bincount(groups[r], minlength=10)[np.bincount(groups[r], minlength=10) > 0] % 5)) == 1 for r in seen[:-1])
    seen.clear()
    strata = np.repeat([0, 1], [10, 40])
    cap.bootstrap_difference(lambda rows: seen.append(rows) or 0.0, 50, strata=strata, resamples=100)
    assert all((strata[r] == 0).sum() == 10 for r in seen[:-1])
    seen.clear()
    cap.bootstrap_difference(lambda rows: seen.append(rows) or 0.0, 50, block=5, resamples=100)
    assert all(len(r) == 50 and np.all(np.diff(r[:5]) == 1) for r in seen[:-1])


@pytest.mark.parametrize("kwargs, message", [({"groups": np.zeros(3)}, "one label per row"), ({"block": 0}, "block"),
                                             ({"block": 2, "strata": np.zeros(10)}, "one resampling scheme"),
                                             ({"resamples": 5}, "resamples"), ({"level": 1.0}, "level")])
def test_bootstrap_difference_names_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cap.bootstrap_difference(lambda rows: 0.0, 10, **kwargs)


def test_bootstrap_difference_refuses_a_statistic_that_breaks_on_a_resample():
    with pytest.raises(ValueError, match="non-finite"):
        cap.bootstrap_difference(lambda rows: np.nan, 10, resamples=100)


def test_diebold_mariano_finds_a_real_difference_and_not_a_fake_one():
    generator = rng(2)
    truth = generator.normal(size=500)
    good, bad = truth + generator.normal(0, 0.5, 500), truth + generator.normal(0, 1.0, 500)
    clear = cap.diebold_mariano((good - truth) ** 2, (bad - truth) ** 2)
    assert clear["mean_difference"] < 0 and clear["p_value"] < 1e-6
    twin = truth + generator.normal(0, 0.5, 500)
    level = cap.diebold_mariano((good - truth) ** 2, (twin - truth) ** 2, horizon=3)
    assert level["p_value"] > 0.01
    with pytest.raises(ValueError, match="identical"):
        cap.diebold_mariano(np.ones(20), np.ones(20))
    with pytest.raises(ValueError, match="equal length"):
        cap.diebold_mariano(np.ones(20), np.ones(19))


def test_calibration_slope_and_intercept_recover_known_miscalibration():
    generator = rng(4)
    logit = generator.normal(0, 2, 20_000)
    y = (generator.random(20_000) < 1 / (1 + np.exp(-logit))).astype(int)
    honest = cap.calibration_slope_intercept(y, 1 / (1 + np.exp(-logit)))
    assert honest["slope"] == pytest.approx(1, abs=0.05) and honest["intercept"] == pytest.approx(0, abs=0.05)
    extreme = cap.calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * logit)))
    assert extreme["slope"] == pytest.approx(0.5, abs=0.05)
    low = cap.calibration_slope_intercept(y, 1 / (1 + np.exp(-(logit - 1))))
    assert low["intercept"] > 0.8
    with pytest.raises(ValueError, match="strictly between"):
        cap.calibration_slope_intercept(y[:20], np.r_[np.zeros(10), np.full(10, 0.5)])
    with pytest.raises(ValueError, match="both present"):
        cap.calibration_slope_intercept(np.ones(20), np.full(20, 0.5))
