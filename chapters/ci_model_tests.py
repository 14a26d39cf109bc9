"""Chapter 11's model tests, run by CI before a model version may be served: schema, accuracy, latency, invariance.

In the model's repository this file is ``tests/test_model.py``; it loads the version in ``MODEL_DIR``
(or each of several, separated by ``os.pathsep``) with the service's own loader
(``service/penguin_service.py``) and tests it on ``TEST_DATA``.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
import penguin_service  # noqa: E402 - the service's loader: CI tests what will be served

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


MODEL_DIRS = [Path(folder) for folder in os.environ.get("MODEL_DIR", "").split(os.pathsep) if folder]


@pytest.fixture(scope="module", params=MODEL_DIRS, ids=[folder.name for folder in MODEL_DIRS])
def model(request):
    return penguin_service.load_version(request.param)


@pytest.fixture(scope="module")
def holdout():
    return pd.read_parquet(os.environ["TEST_DATA"])


def test_data_schema(holdout):
    assert list(holdout.columns) == ["island", *NUMERIC, "sex", "species"]
    assert all(holdout[column].dtype == "float64" for column in NUMERIC)
    assert pd.api.types.is_string_dtype(holdout["island"]) and pd.api.types.is_string_dtype(holdout["sex"])
    assert set(holdout["island"]) <= {"Biscoe", "Dream", "Torgersen"}
    assert holdout["body_mass_g"].between(2000, 7000).all()


def test_minimum_accuracy(model, holdout):
    predicted = model.predict(holdout.drop(columns="species"))
    assert (predicted == holdout["species"]).mean() >= 0.95


def test_every_category_is_served(model, holdout):
    """A version must answer every island and sex the service accepts (version 3 of chapter 11 fails here)."""
    grid = pd.DataFrame([{**holdout.iloc[0].drop("species").to_dict(), "island": island, "sex": sex}
                         for island in ["Biscoe", "Dream", "Torgersen"] for sex in ["female", "male", None]])
    assert model.predict_proba(grid).shape == (len(grid), 3)


def test_latency_budget(model, holdout):
    one = holdout.drop(columns="species").head(1)
    model.predict_proba(one)  # warm-up
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        model.predict_proba(one)
        timings.append(time.perf_counter() - start)
    assert np.percentile(timings, 99) < 0.25, "p99 of single predictions over the 250 ms budget"


def test_invariance_to_a_tenth_of_a_millimetre(model, holdout):
    X = holdout.drop(columns="species")
    nudged = X.assign(bill_length_mm=X["bill_length_mm"] + 0.1, bill_depth_mm=X["bill_depth_mm"] - 0.1)
    assert (model.predict(X) == model.predict(nudged)).mean() >= 0.97
