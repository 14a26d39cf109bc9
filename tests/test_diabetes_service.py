"""Chapter 12's diabetes service (chapters/diabetes_service.py): right answers, and a clear 4xx for hostile input.

The service runs as a real uvicorn process, serving a logistic regression on the Pima data saved with
utils.save_model_version, as the notebook does.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

import utils
from utils.loadtest import raw_post, send_raw

CHAPTERS = utils.REPO_ROOT / "chapters"
MEASUREMENTS = ["npreg", "glu", "bp", "skin", "bmi", "ped", "age"]
PATIENT = {"npreg": 2, "glu": 148.0, "bp": 72.0, "skin": 35.0, "bmi": 33.6, "ped": 0.627, "age": 50}


@pytest.fixture(scope="module")
def fitted():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pima = utils.load_dataset("pima_diabetes")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(pima[MEASUREMENTS], pima["type"] == "Yes"), pima


@pytest.fixture(scope="module")
def service(fitted, tmp_path_factory):
    model, pima = fitted
    folder = tmp_path_factory.mktemp("diabetes")
    package = utils.save_model_version(model, folder / "registry", pima[MEASUREMENTS].astype(float), reviewed_types=["numpy.dtype"], pip_requirements=[])
    with utils.start_service("diabetes_service:app", CHAPTERS, log_path=folder / "server.log", timeout=60,
                             env={"MODEL_PACKAGE": str(package), "BODY_TIMEOUT_S": "1"}, extra_args=["--log-level", "warning"]) as running:
        yield running


def post(service, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(service.url + "/predict", data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


def test_the_answer_is_the_models_probability_and_its_contributions_add_up(service, fitted):
    model, pima = fitted
    status, answer = post(service, PATIENT)
    assert status == 200
    expected = model.predict_proba(pd.DataFrame([PATIENT])[MEASUREMENTS].astype(float))[0, 1]
    assert answer["probability"] == pytest.approx(expected, abs=1e-4)
    log_odds = sum(answer["log_odds_contributions"].values()) + model.named_steps["logisticregression"].intercept_[0]
    assert 1 / (1 + np.exp(-log_odds)) == pytest.approx(expected, abs=1e-3)
    assert list(answer["log_odds_contributions"]) == MEASUREMENTS


@pytest.mark.parametrize("change, field", [({"glu": 20.0}, "glu"), ({"age": 5}, "age"), ({"bmi": "33"}, "bmi"),
                                           ({"npreg": 2.5}, "npreg"), ({"insulin": 80}, "insulin")])
def test_implausible_or_unknown_fields_get_a_422_that_names_the_field(service, change, field):
    status, answer = post(service, {**PATIENT, **change})
    assert status == 422 and any(problem["field"] == field for problem in answer["detail"]), answer


def test_a_missing_field_is_named(service):
    status, answer = post(service, {k: v for k, v in PATIENT.items() if k != "ped"})
    assert status == 422 and answer["detail"][0]["field"] == "ped"


HOSTILE = {
    "NaN": (json.dumps(PATIENT).replace("148.0", "NaN").encode(), None, None, {422}),
    "1e400": (json.dumps(PATIENT).replace("148.0", "1e400").encode(), None, None, {422}),
    "arrays nested 2,000 deep": (b"[" * 2000 + b"]" * 2000, None, None, {422}),
    "invalid UTF-8": (json.dumps(PATIENT).encode()[:-1] + b', "x": "\xff"}', None, None, {422}),
    "chunked body over the limit": (json.dumps({**PATIENT, "notes": "x" * 10_000}).encode(), True, 1000, {413}),
    "Content-Length over the limit": (b"{}", "100000", None, {413}),
    "Content-Length not a number": (json.dumps(PATIENT).encode(), "abc", None, {400}),
    "Content-Length larger than the body": (json.dumps(PATIENT).encode(), "3000", None, {408}),
    "empty body": (b"", True, None, {422}),
}


@pytest.mark.parametrize("attack", list(HOSTILE))
def test_hostile_requests_get_a_4xx_and_the_service_still_answers(service, attack):
    body, length, chunk, allowed = HOSTILE[attack]
    status = send_raw(service.url, raw_post("/predict", body, content_length=True if length is None else length, chunk_size=chunk), timeout=5)
    assert status in allowed, f"{attack}: got {status}"
    assert post(service, PATIENT)[0] == 200
