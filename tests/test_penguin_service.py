"""Chapter 11's service (chapters/penguin_service.py) against hostile clients, and the load generator.

The service runs as a real uvicorn process (its HTTP parser is part of what is tested), with a small
registry: version 1 a logistic regression, version 2 the same pipeline retrained without Torgersen
penguins and with an encoder that raises on a category it never saw (a model that raises).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

import utils
from utils.loadtest import closed_loop, open_loop, raw_post, send_raw

CHAPTERS = utils.REPO_ROOT / "chapters"
GOOD = {"island": "Biscoe", "bill_length_mm": 46.1, "bill_depth_mm": 13.2, "flipper_length_mm": 211.0,
        "body_mass_g": 4500.0, "sex": "female"}
TOKEN = "test-admin-token"


def penguin_model(raise_on_unknown: bool):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prepare = make_column_transformer(
        (StandardScaler(), ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]),
        (OneHotEncoder(handle_unknown="error" if raise_on_unknown else "ignore"), ["island", "sex"]))
    return make_pipeline(prepare, LogisticRegression(max_iter=1000))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    penguins = utils.load_dataset("penguins").dropna(subset=["bill_length_mm"])
    X = penguins[["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]]
    root = tmp_path_factory.mktemp("registry")
    utils.save_model_version(penguin_model(False).fit(X, penguins["species"]), root, X, reviewed_types=["numpy.dtype"], pip_requirements=[])
    no_torgersen = penguins["island"] != "Torgersen"
    utils.save_model_version(penguin_model(True).fit(X[no_torgersen], penguins["species"][no_torgersen]), root, X[no_torgersen],
                             reviewed_types=["numpy.dtype"], pip_requirements=[])
    return root


@pytest.fixture(scope="module")
def service(registry, tmp_path_factory):
    folder = tmp_path_factory.mktemp("service")
    settings = {"MODEL_REGISTRY": str(registry), "MODEL_VERSION": "1", "REQUEST_LOG": str(folder / "requests.jsonl"),
                "ADMIN_TOKEN": TOKEN, "BODY_TIMEOUT_S": "1", "MAX_WAIT_MS": "5"}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        with utils.start_service("penguin_service:app", CHAPTERS, log_path=folder / "server.log", timeout=60,
                                 extra_args=["--log-level", "warning"]) as running:
            yield running
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)


def call(service, method, path, body=None, token=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(service.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_missing_sex_is_answered(service):
    status, answer = call(service, "POST", "/predict_batched", {**GOOD, "sex": None})
    assert status == 200 and answer["species"] == "Gentoo"


def still_answers(service):
    for path in ["/predict", "/predict_batched"]:
        status, answer = call(service, "POST", path, GOOD)
        assert status == 200 and answer["species"] == "Gentoo", (path, status, answer)
    assert call(service, "GET", "/health")[0] == 200


def body_with(value: str) -> bytes:
    return json.dumps(GOOD).replace("46.1", value).encode()


ATTACKS = {  # name: (raw request for PATH, allowed statuses)
    "chunked body over the limit, no Content-Length": (lambda p: raw_post(p, json.dumps({**GOOD, "notes": "x" * 10_000}).encode(), chunk_size=1000), {413}),
    "chunked, valid JSON padded to 10 KB": (lambda p: raw_post(p, json.dumps(GOOD)[:-1].encode() + b" " * 10_000 + b"}", chunk_size=1000), {413}),
    "Content-Length over the limit": (lambda p: raw_post(p, b"{}", content_length="100000"), {413}),
    "Content-Length not a number": (lambda p: raw_post(p, json.dumps(GOOD).encode(), content_length="abc"), {400}),
    "Content-Length negative": (lambda p: raw_post(p, json.dumps(GOOD).encode(), content_length="-5"), {400}),
    "Content-Length smaller than the body": (lambda p: raw_post(p, json.dumps(GOOD).encode(), content_length="20"), {400, 422}),
    "Content-Length larger than the body": (lambda p: raw_post(p, json.dumps(GOOD).encode(), content_length="3000"), {408}),
    "NaN": (lambda p: raw_post(p, body_with("NaN")), {422}),
    "Infinity": (lambda p: raw_post(p, body_with("-Infinity")), {422}),
    "1e400 (no float holds it)": (lambda p: raw_post(p, body_with("1e400")), {422}),
    "a 3,900-digit integer": (lambda p: raw_post(p, body_with("1" + "0" * 3900)), {422}),
    "arrays nested 2,000 deep": (lambda p: raw_post(p, b"[" * 2000 + b"]" * 2000), {422}),
    "objects nested 600 deep": (lambda p: raw_post(p, b'{"a":' * 600 + b"1" + b"}" * 600), {422}),
    "lone surrogate escape": (lambda p: raw_post(p, json.dumps(GOOD).replace("Biscoe", "Bis\\ud800coe").encode()), {422}),
    "invalid UTF-8": (lambda p: raw_post(p, json.dumps(GOOD).encode().replace(b"Biscoe", b"Bis\xffcoe")), {422}),
    "trailing garbage": (lambda p: raw_post(p, json.dumps(GOOD).encode() + b" }"), {422}),
    "empty body": (lambda p: raw_post(p, b""), {422}),
    "not an object": (lambda p: raw_post(p, b'"penguin"'), {422}),
}


@pytest.mark.parametrize("path", ["/predict", "/predict_batched"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_hostile_requests_get_a_clear_4xx_and_the_service_still_answers(service, path, attack):
    make, allowed = ATTACKS[attack]
    status = send_raw(service.url, make(path), timeout=5)
    assert status in allowed, f"{attack}: got {status}, expected one of {sorted(allowed)}"
    still_answers(service)


def test_a_valid_chunked_body_is_accepted(service):
    assert send_raw(service.url, raw_post("/predict", json.dumps(GOOD).encode(), chunk_size=16)) == 200


def test_every_4xx_says_what_was_wrong(service):
    status, answer = call(service, "POST", "/predict", body_with("NaN"))
    assert status == 422 and answer["detail"][0]["field"] == "bill_length_mm" and "finite" in answer["detail"][0]["problem"]
    status, answer = call(service, "POST", "/predict", {**GOOD, "colour": "black"})
    assert status == 422 and answer["detail"][0]["field"] == "colour"


def scrape(service) -> str:
    with urllib.request.urlopen(service.url + "/metrics", timeout=5) as response:
        return response.read().decode()


def test_random_paths_do_not_grow_the_metrics(service):
    for i in range(200):
        send_raw(service.url, f"GET /probe/{i}/admin.php HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    routes = {line.split('route="')[1].split('"')[0] for line in scrape(service).splitlines() if line.startswith("penguin_requests_total{")}
    assert "unmatched" in routes and not any("probe" in route for route in routes)
    assert routes <= {"unmatched", "/predict", "/predict_batched", "/health", "/version", "/metrics", "/admin/version",
                      "/admin/batching", "/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"}


def test_clients_that_hang_up_do_not_stop_the_batcher(service):
    def impatient(i):
        with socket.create_connection(("127.0.0.1", int(service.url.rsplit(":", 1)[1]))) as connection:
            connection.sendall(raw_post("/predict_batched", json.dumps(GOOD).encode()))
            time.sleep(0.001 * (i % 10))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(impatient, range(160)))
    still_answers(service)


def test_version_switch_needs_the_token_and_rolls_back(service):
    assert call(service, "PUT", "/admin/version", {"version": "2"})[0] == 401
    assert call(service, "PUT", "/admin/version", {"version": "2"}, token="wrong")[0] == 401
    assert call(service, "PUT", "/admin/version", {"version": "9"}, token=TOKEN)[0] == 404
    assert call(service, "PUT", "/admin/version", {"version": "../1"}, token=TOKEN)[0] == 422
    status, answer = call(service, "PUT", "/admin/version", {"version": "2"}, token=TOKEN)
    assert status == 200 and answer == {"model_version": "2", "previous": "1"}
    try:
        assert call(service, "POST", "/predict", GOOD)[1]["model_version"] == "2"
        # version 2 raises on an island it never saw: a 500 that says so, for that request only
        torgersen = {**GOOD, "island": "Torgersen"}
        for path in ["/predict", "/predict_batched"]:
            status, answer = call(service, "POST", path, torgersen)
            assert status == 500 and "server failed" in answer["detail"]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # a bad row in a batch fails only its own request
            statuses = list(pool.map(lambda b: call(service, "POST", "/predict_batched", b)[0], [torgersen, GOOD] * 8))
        assert statuses == [500, 200] * 8
        assert call(service, "GET", "/health")[0] == 200
        assert "penguin_model_errors_total" in scrape(service)
    finally:
        status, answer = call(service, "PUT", "/admin/version", {"version": "1"}, token=TOKEN)
    assert status == 200 and answer["model_version"] == "1"
    assert call(service, "POST", "/predict", {**GOOD, "island": "Torgersen"})[0] == 200


def test_batching_knobs_are_validated(service):
    assert call(service, "PUT", "/admin/batching", {"max_batch": 0, "max_wait_ms": 5}, token=TOKEN)[0] == 422
    assert call(service, "PUT", "/admin/batching", {"max_batch": 4, "max_wait_ms": 5}, token=None)[0] == 401
    status, answer = call(service, "PUT", "/admin/batching", {"max_batch": 32, "max_wait_ms": 5}, token=TOKEN)
    assert status == 200 and answer == {"max_batch": 32, "max_wait_ms": 5.0}


# ---------------------------------------------------------------- the batcher in-process, with a fake model
@pytest.fixture(scope="module")
def service_module():
    """The service's module, imported once (its Prometheus metrics register once per process)."""
    sys.path.insert(0, str(CHAPTERS))
    try:
        yield importlib.import_module("penguin_service")
    finally:
        sys.path.remove(str(CHAPTERS))


class FakeModel:
    """Probabilities from bill length; raises for a bill of exactly 66 mm; `delay` seconds per call."""

    def __init__(self, delay=0.0):
        self.delay, self.calls = delay, []

    def predict_proba(self, frame):
        self.calls.append(len(frame))
        time.sleep(self.delay)
        if (frame["bill_length_mm"] == 66).any():
            raise ValueError("poisoned row")
        return np.tile([0.2, 0.3, 0.5], (len(frame), 1))


def test_batcher_survives_a_raising_model_and_cancelled_requests(service_module, monkeypatch):
    model = FakeModel(delay=0.02)
    monkeypatch.setattr(service_module, "registry", type("R", (), {"current": ("7", model), "active": "7"})(), raising=False)

    async def scenario():
        batcher = service_module.Batcher()
        batcher.start()
        good = service_module.Penguin(**GOOD)
        poisoned = service_module.Penguin(**{**GOOD, "bill_length_mm": 66.0})
        tasks = [asyncio.create_task(batcher.predict(p)) for p in [good, poisoned, good, good]]
        await asyncio.sleep(0)
        tasks[2].cancel()  # a client that gave up while its request waited in the queue
        results = await asyncio.gather(*tasks, return_exceptions=True)
        later = await batcher.predict(good)  # the batcher still runs
        alive = batcher.alive
        batcher.task.cancel()
        return results, later, alive

    results, later, alive = asyncio.run(scenario())
    assert isinstance(results[0], tuple) and results[0][1] == "7"
    assert isinstance(results[1], ValueError) and isinstance(results[2], asyncio.CancelledError)
    assert isinstance(results[3], tuple) and later[1] == "7" and alive


def test_a_dead_batcher_is_reported_not_hung(service_module):
    async def scenario():
        batcher = service_module.Batcher()

        async def crash():
            raise RuntimeError("bug")

        batcher.run = crash
        batcher.start()
        await asyncio.sleep(0.01)
        with pytest.raises(service_module.HTTPException) as refused:
            await batcher.predict(service_module.Penguin(**GOOD))
        return batcher, refused.value

    batcher, refused = asyncio.run(scenario())
    assert not batcher.alive and "bug" in batcher.failure and refused.status_code == 503


def test_request_log_counts_what_it_cannot_write(service_module, tmp_path):
    log = service_module.RequestLog(tmp_path / "missing-folder" / "requests.jsonl")
    log.add(service_module.Penguin(**GOOD))
    log.close()
    dropped = service_module.LOG_DROPPED.labels("write failed")._value.get()
    assert dropped >= 1


def test_unreviewed_skops_types_are_refused(service_module, tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="sklearn.tree._tree.Tree"):
        utils.save_model_version(RandomForestClassifier(n_estimators=2).fit(X, [0, 1, 0, 1]), tmp_path, X, reviewed_types=["numpy.dtype"])


# ---------------------------------------------------------------- the load generator
TINY_API = '''
import threading, time
from fastapi import FastAPI
app = FastAPI()
lock = threading.Lock()

@app.get("/health")
def health():
    return {"ok": True}

@app.post("/work")
def work(body: dict):
    with lock:  # one request at a time, 10 ms each: capacity 100 per second
        time.sleep(0.01)
    return {"ok": True}
'''


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "tiny_work.py").write_text(TINY_API)
    with utils.start_service("tiny_work:app", folder, extra_args=["--log-level", "warning"]) as running:
        yield running


def test_closed_loop_obeys_littles_law(tiny):
    result = asyncio.run(closed_loop(tiny.url, "/work", [{"x": 1}], clients=4, requests=120, warmup=8))
    assert result.failed == 0 and len(result.latencies_ms) == 120
    assert 60 < result.throughput < 105  # one 10 ms request at a time
    in_flight = result.throughput * np.mean(result.latencies_ms) / 1000
    assert 3.2 < in_flight < 4.2  # Little's law: clients = throughput x latency


def test_open_loop_below_and_above_capacity(tiny):
    light = asyncio.run(open_loop(tiny.url, "/work", [{"x": 1}], rate=30, requests=60, seed=1))
    assert light.failed == 0 and abs(light.throughput - 30) < 10 and np.median(light.latencies_ms) < 30
    heavy = asyncio.run(open_loop(tiny.url, "/work", [{"x": 1}], rate=300, requests=150, seed=1))
    assert heavy.throughput < 110  # the server's capacity, not the offered rate
    # measured from when each request was due: the queue shows, growing over the run
    assert np.percentile(heavy.latencies_ms, 99) > 300


def test_failures_are_counted(tiny):
    result = asyncio.run(closed_loop(tiny.url, "/nowhere", [{"x": 1}], clients=2, requests=10))
    assert result.failed == 10 and set(result.statuses) == {404}


@pytest.mark.parametrize("kwargs, message", [
    ({"url": "localhost:80"}, "url must look like"),
    ({"path": "work"}, "path must start"),
    ({"bodies": []}, "non-empty list"),
    ({"clients": 0}, "clients must be"),
    ({"requests": 2.5}, "requests must be"),
    ({"warmup": -1}, "warmup must be"),
])
def test_closed_loop_rejects_bad_arguments(kwargs, message):
    arguments = {"url": "http://127.0.0.1:9", "path": "/work", "bodies": [{}], "clients": 1, "requests": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        asyncio.run(closed_loop(arguments.pop("url"), arguments.pop("path"), arguments.pop("bodies"), **arguments))


def test_open_loop_rejects_a_bad_rate():
    with pytest.raises(ValueError, match="rate must be"):
        asyncio.run(open_loop("http://127.0.0.1:9", "/work", [{}], rate=0, requests=1))


def test_send_raw_reports_a_silent_server():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert send_raw(f"http://127.0.0.1:{listener.getsockname()[1]}", b"GET / HTTP/1.1\r\n\r\n", timeout=0.3) == "timeout"
    with pytest.raises(TypeError, match="must be bytes"):
        send_raw("http://127.0.0.1:9", "text")
