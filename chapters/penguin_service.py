"""Penguin species as a service (chapter 11): validated requests, micro-batching, versions, metrics.

Run it with ``uvicorn penguin_service:app --app-dir chapters``. It is configured by environment variables:

- ``MODEL_REGISTRY``: a folder with one MLflow package per model version (``1/``, ``2/``, ...), each saved
  with ``serialization_format="skops"``; required.
- ``MODEL_VERSION``: the version served at start (default: the highest number in the registry).
- ``REQUEST_LOG``: a JSON-lines file that receives the features of every accepted request (for drift
  monitoring); required.
- ``ADMIN_TOKEN``: enables ``PUT /admin/version`` (switch and roll back) and ``PUT /admin/batching``;
  without it both answer 404.
- ``MAX_BATCH`` (default 32) and ``MAX_WAIT_MS`` (default 5): the micro-batcher's knobs at start
  (``PUT /admin/batching`` changes them while it runs).

Every answer is JSON. The client's mistakes get a 4xx that says what was wrong; a 5xx means the server
failed, and says so. The service never trusts the client: bodies are counted as they arrive (not
believed from ``Content-Length``), parsed by a strict JSON parser, and validated before any model code runs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import queue
import threading
import time
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import skops.io
import yaml
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.routing import Match

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]  # the order of predict_proba's columns
MAX_BODY_BYTES = 4096
BODY_TIMEOUT = float(os.environ.get("BODY_TIMEOUT_S", "5"))  # seconds a client may take to send its body
ANSWER_TIMEOUT = float(os.environ.get("ANSWER_TIMEOUT_S", "10"))  # seconds a request may wait for the batcher
# Types that skops must be told to trust before it rebuilds them. Each was reviewed by a person: a NumPy
# dtype, a fitted decision tree's node arrays. A model file that needs anything else is refused.
REVIEWED_SKOPS_TYPES = frozenset({"numpy.dtype", "sklearn.tree._tree.Tree"})


class Penguin(BaseModel):
    """One request: what a valid penguin looks like (anything else is a 422 naming the field)."""

    # unknown fields, silent type coercion, NaN and infinities are all errors
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    island: Literal["Biscoe", "Dream", "Torgersen"]
    bill_length_mm: float = Field(gt=20, lt=80)
    bill_depth_mm: float = Field(gt=10, lt=30)
    flipper_length_mm: float = Field(gt=150, lt=250)
    body_mass_g: float = Field(gt=2000, lt=7000)
    sex: Literal["female", "male"] | None = None


class VersionSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: str = Field(pattern=r"^[0-9]{1,6}$")


# ---------------------------------------------------------------- model versions
def load_version(folder: Path):
    """Load one MLflow package with skops, trusting only REVIEWED_SKOPS_TYPES; refuse anything else.

    MLflow's own loader would trust whatever list the package's MLmodel file declares, so a tampered
    package could declare its own payload safe. Here the list is the service's, not the file's.
    """
    flavour = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["sklearn"]
    if flavour.get("serialization_format") != "skops":
        raise ValueError(f"{folder.name}: only skops packages are served, this one is {flavour.get('serialization_format')!r}")
    path = folder / flavour["pickled_model"]
    unreviewed = set(skops.io.get_untrusted_types(file=path)) - REVIEWED_SKOPS_TYPES
    if unreviewed:
        raise ValueError(f"{folder.name}: the model file needs types nobody reviewed: {sorted(unreviewed)}")
    return skops.io.load(path, trusted=sorted(REVIEWED_SKOPS_TYPES))


class Registry:
    """The model versions on disk and the one being served; a switch is atomic (one assignment)."""

    def __init__(self, root: Path, active: str | None):
        self.root = root
        if not self.versions:
            raise RuntimeError(f"no model versions (folders 1/, 2/, ...) in {root}")
        self.loaded: dict[str, object] = {}
        self.history: list[str] = []
        self.activate(active or self.versions[-1])

    @property
    def versions(self) -> list[str]:
        """The versions on disk now: a new version is a new folder, and the running service sees it."""
        return sorted((p.name for p in self.root.iterdir() if p.is_dir() and p.name.isdigit()), key=int)

    def activate(self, name: str) -> None:
        """Load (once) and smoke-test a version, then serve it; raise ValueError and keep the old one otherwise."""
        if name not in self.versions:
            raise KeyError(name)
        model = self.loaded.get(name) or load_version(self.root / name)
        example = pd.read_json(self.root / name / "input_example.json", orient="split")
        probabilities = model.predict_proba(example)  # a version that cannot predict its own example is refused
        if probabilities.shape != (len(example), len(SPECIES)) or not np.allclose(probabilities.sum(axis=1), 1):
            raise ValueError(f"version {name} returned {probabilities.shape} probabilities for its input example")
        self.loaded[name] = model
        self.current = (name, model)  # one assignment: a request sees the old pair or the new, never a mix
        self.history.append(name)

    @property
    def active(self) -> str:
        return self.current[0]


def predict_rows(model, penguins: list[Penguin]) -> np.ndarray:
    rows = pd.DataFrame([penguin.model_dump() for penguin in penguins])
    return model.predict_proba(rows.where(rows.notna(), np.nan))  # JSON null arrives as None; training had NaN


def answer(probabilities, model_version: str) -> dict:
    best = int(np.argmax(probabilities))
    return {"species": SPECIES[best], "probabilities": {s: round(float(p), 4) for s, p in zip(SPECIES, probabilities)},
            "model_version": model_version}


# ---------------------------------------------------------------- the request log, written off the event loop
class RequestLog:
    """Append JSON lines from a background thread; the handlers only put lines on a bounded queue.

    A full queue or a failing disk never blocks or fails a prediction: the line is dropped and counted
    (``penguin_request_log_dropped_total``), so an alert can say the drift report is missing data.
    """

    def __init__(self, path: Path, capacity: int = 10_000):
        self.path, self.lines = path, queue.Queue(maxsize=capacity)
        self.thread = threading.Thread(target=self._write, name="request-log", daemon=True)
        self.thread.start()

    def add(self, penguin: Penguin) -> None:
        try:
            self.lines.put_nowait(json.dumps(penguin.model_dump()))
        except queue.Full:
            LOG_DROPPED.labels("queue full").inc()

    def _write(self) -> None:
        while (line := self.lines.get()) is not None:
            batch = [line]
            while len(batch) < 1000:
                try:
                    line = self.lines.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    self.lines.put(None)  # finish this batch, then stop
                    break
                batch.append(line)
            try:
                with self.path.open("a", encoding="utf-8") as log:
                    log.write("\n".join(batch) + "\n")
            except OSError:
                LOG_DROPPED.labels("write failed").inc(len(batch))

    def close(self, timeout: float = 5.0) -> None:
        self.lines.put(None)
        self.thread.join(timeout)


# ---------------------------------------------------------------- dynamic micro-batching
class BatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    max_batch: int = Field(ge=1, le=256)
    max_wait_ms: float = Field(ge=0, le=100)


class Batcher:
    """Requests wait up to max_wait_ms for company, then share one model call (at most max_batch rows)."""

    def __init__(self):
        self.settings = BatchSettings(max_batch=int(os.environ.get("MAX_BATCH", "32")),
                                      max_wait_ms=float(os.environ.get("MAX_WAIT_MS", "5")))
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.failure: str | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        if not task.cancelled():  # run() never returns: ending any other way is a bug, reported by /health
            self.failure = repr(task.exception())
            BATCHER_ALIVE.set(0)

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        BATCHER_ALIVE.set(1)
        while True:
            items = [await self.queue.get()]
            settings = self.settings
            while len(items) < settings.max_batch and not self.queue.empty():  # take what is already waiting,
                items.append(self.queue.get_nowait())
            deadline = loop.time() + settings.max_wait_ms / 1000
            while len(items) < settings.max_batch and (remaining := deadline - loop.time()) > 0:
                try:
                    items.append(await asyncio.wait_for(self.queue.get(), remaining))
                except asyncio.TimeoutError:
                    break  # then wait up to max_wait_ms for more
            waiting = [(penguin, future) for penguin, future in items if not future.done()]  # skip clients that gave up
            if not waiting:
                continue
            BATCH_SIZE.observe(len(waiting))
            model_version, model = registry.current
            try:  # the model runs in a thread, off the event loop
                probabilities = await loop.run_in_executor(None, predict_rows, model, [penguin for penguin, _ in waiting])
            except Exception:  # never let a failed call end the batcher: retry its rows one by one,
                MODEL_ERRORS.inc()  # so that one bad row fails only its own request, not its batch-mates
                await self.one_by_one(model_version, model, waiting)
                continue
            for (_, future), row in zip(waiting, probabilities):
                if not future.done():
                    future.set_result((row, model_version))

    async def one_by_one(self, model_version, model, waiting) -> None:
        loop = asyncio.get_running_loop()
        for penguin, future in waiting:
            try:
                row = (await loop.run_in_executor(None, predict_rows, model, [penguin]))[0]
            except Exception as error:
                MODEL_ERRORS.inc()
                if not future.done():
                    future.set_exception(error)
                continue
            if not future.done():
                future.set_result((row, model_version))

    async def predict(self, penguin: Penguin) -> tuple[np.ndarray, str]:
        if not self.alive:
            raise HTTPException(503, f"the micro-batcher has stopped ({self.failure}); the service needs a restart")
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((penguin, future))
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT)  # on time-out the future is cancelled (and skipped)
        except asyncio.TimeoutError:
            raise HTTPException(503, f"no answer within {ANSWER_TIMEOUT:g} s: the service is overloaded") from None


# ---------------------------------------------------------------- the application
registry: Registry
request_log: RequestLog
batcher = Batcher()


@asynccontextmanager
async def lifespan(app):
    global registry, request_log
    registry = Registry(Path(os.environ["MODEL_REGISTRY"]), os.environ.get("MODEL_VERSION"))
    request_log = RequestLog(Path(os.environ["REQUEST_LOG"]))
    batcher.start()
    yield
    batcher.task.cancel()
    request_log.close()


app = FastAPI(title="Penguin species", version="2.0", lifespan=lifespan)
REQUESTS = Counter("penguin_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram("penguin_request_seconds", "Time to answer a request", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
BATCH_SIZE = Histogram("penguin_batch_size", "Requests per model call in /predict_batched", buckets=(1, 2, 4, 8, 16, 32, 64))
MODEL_ERRORS = Counter("penguin_model_errors_total", "Model calls that raised")
LOG_DROPPED = Counter("penguin_request_log_dropped_total", "Request-log lines not written", ["reason"])
BATCHER_ALIVE = Gauge("penguin_batcher_alive", "1 while the micro-batcher runs")


def route_of(scope) -> str:
    """The route's template (e.g. "/predict"), or "unmatched": a metric label must not grow with every URL sent."""
    for route in app.router.routes:
        if route.matches(scope)[0] is not Match.NONE:  # PARTIAL: the path is known, the method is not
            return route.path
    return "unmatched"


def error(status: int, detail) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


async def read_body(receive, declared: str | None) -> bytes | JSONResponse:
    """The request body, counted as it arrives; a JSONResponse (400/408/413) when the client breaks the rules."""
    if declared is not None and not declared.isdigit():  # uvicorn's parser refuses these first; other servers may not
        return error(400, "Content-Length must be a whole number of bytes")
    if declared is not None and int(declared) > MAX_BODY_BYTES:
        return error(413, f"request body over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    while True:
        try:
            message = await asyncio.wait_for(receive(), BODY_TIMEOUT)
        except asyncio.TimeoutError:
            return error(408, f"the request body did not arrive within {BODY_TIMEOUT:g} s")
        if message["type"] == "http.disconnect":
            return error(400, "the client disconnected before sending its body")
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:  # chunked bodies have no Content-Length: count what arrives
            return error(413, f"request body over {MAX_BODY_BYTES} bytes")
        if not message.get("more_body", False):
            return bytes(body)


class GuardAndMeasure:
    """ASGI middleware: enforce the body limit on the bytes received, then count and time every request."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        start, route, status = time.perf_counter(), route_of(scope), 500
        headers = dict(scope["headers"])

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        body = await read_body(receive, headers.get(b"content-length", b"").decode() or None)
        if isinstance(body, JSONResponse):
            await body(scope, receive, send_and_note)
        else:
            delivered = False

            async def replay():
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            scope.setdefault("state", {})["body"] = body
            try:
                await self.inner(scope, replay, send_and_note)
            finally:  # a request that raised (answered 500 by server_error) is counted too
                REQUESTS.labels(route, str(status)).inc()
                LATENCY.labels(route).observe(time.perf_counter() - start)
            return
        REQUESTS.labels(route, str(status)).inc()
        LATENCY.labels(route).observe(time.perf_counter() - start)


app.add_middleware(GuardAndMeasure)


@app.exception_handler(Exception)
async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug or a failing model is still answered in JSON, with a 500 that says it is the server's fault."""
    return error(500, f"the server failed ({type(exc).__name__}); the request was valid and may be retried")


def parse_penguin(request: Request) -> Penguin:
    """Strict JSON (no NaN or Infinity, no numbers a float cannot hold, nesting limited), then the schema."""
    try:
        return Penguin.model_validate_json(request.state.body)
    except ValidationError as invalid:  # errors() holds only plain values here: safe to send back as JSON
        problems = [{"field": ".".join(map(str, e["loc"])) or "(body)", "problem": e["msg"]} for e in invalid.errors()]
        raise HTTPException(422, problems) from None


@app.get("/health")
def health() -> JSONResponse:
    """Liveness: 200 while the process can answer predictions, 503 (and why) when it cannot."""
    if not batcher.alive:
        return error(503, {"status": "unhealthy", "batcher": f"stopped: {batcher.failure}"})
    return JSONResponse({"status": "ok", "model_version": registry.active})


@app.get("/version")
def service_version() -> dict:
    return {"model_version": registry.active, "versions": registry.versions, "service": app.version,
            "libraries": {name: version(name) for name in ["scikit-learn", "skops", "fastapi", "pydantic"]}}


@app.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def check_admin(request: Request) -> None:
    token = os.environ.get("ADMIN_TOKEN")
    if not token:
        raise HTTPException(404, "the admin endpoints are disabled (no ADMIN_TOKEN set)")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required")


@app.put("/admin/batching")
def tune_batching(request: Request) -> dict:
    """Change the micro-batcher's knobs while it runs (takes effect from the next batch)."""
    check_admin(request)
    try:
        batcher.settings = BatchSettings.model_validate_json(request.state.body)
    except ValidationError as invalid:
        raise HTTPException(422, [f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in invalid.errors()]) from None
    return batcher.settings.model_dump()


@app.put("/admin/version")
def switch_version(request: Request) -> dict:
    """Serve another version (a roll-out or a roll-back). Needs ``Authorization: Bearer <ADMIN_TOKEN>``."""
    check_admin(request)
    try:
        wanted = VersionSwitch.model_validate_json(request.state.body).version
    except ValidationError:
        raise HTTPException(422, 'send {"version": "<number>"}') from None
    previous = registry.active
    try:
        registry.activate(wanted)
    except KeyError:
        raise HTTPException(404, f"no version {wanted}; the registry has {registry.versions}") from None
    except Exception as refused:  # unreviewed types, a model that cannot predict: keep serving the old one
        raise HTTPException(409, f"version {wanted} refused, still serving {previous}: {refused}") from None
    return {"model_version": registry.active, "previous": previous}


PENGUIN_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": Penguin.model_json_schema()}}}}


@app.post("/predict", openapi_extra=PENGUIN_BODY)
def predict(request: Request) -> dict:
    """One penguin, one model call (a plain function: FastAPI runs it in its thread pool)."""
    penguin = parse_penguin(request)
    request_log.add(penguin)
    model_version, model = registry.current
    return answer(predict_rows(model, [penguin])[0], model_version)


@app.post("/predict_batched", openapi_extra=PENGUIN_BODY)
async def predict_batched(request: Request) -> dict:
    """One penguin, answered from a shared model call (see Batcher)."""
    penguin = parse_penguin(request)
    request_log.add(penguin)
    return answer(*await batcher.predict(penguin))
