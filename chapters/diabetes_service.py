"""Diabetes risk as a service (chapter 12, capstone 12.8): chapter 11's service pattern, reused for a new model.

Run it with ``uvicorn diabetes_service:app --app-dir chapters``, with ``MODEL_PACKAGE`` set to one MLflow
package saved by ``utils.save_model_version`` (skops format). Chapter 11's hardened pieces are imported,
not copied: ``load_version`` (skops with the service's own reviewed types, never the package's list) and
``read_body`` (the body counted as it arrives: 413 over the limit, 400 for a broken Content-Length, 408
for a body that never comes). What is new is the schema of a patient and the answer: a probability
and its split into one contribution per measurement, which a clinician can read and challenge.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from penguin_service import error, load_version, read_body


class Patient(BaseModel):
    """One patient, in the units of the Pima study; ranges are generous but physiological."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    npreg: int = Field(ge=0, le=25, description="number of pregnancies")
    glu: float = Field(gt=30, lt=300, description="plasma glucose 2 h into a glucose-tolerance test, mg/dl")
    bp: float = Field(gt=20, lt=150, description="diastolic blood pressure, mm Hg")
    skin: float = Field(gt=3, lt=110, description="triceps skin-fold thickness, mm")
    bmi: float = Field(gt=12, lt=80, description="body-mass index, kg/m2")
    ped: float = Field(gt=0, lt=4, description="diabetes pedigree function")
    age: int = Field(ge=18, le=110, description="age in years")


class BodyLimit:
    """ASGI middleware: read the body with chapter 11's read_body, answer its 4xx, or hand the body on."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        body = await read_body(receive, dict(scope["headers"]).get(b"content-length", b"").decode() or None)
        if isinstance(body, JSONResponse):
            return await body(scope, receive, send)
        scope.setdefault("state", {})["body"] = body
        return await self.inner(scope, receive, send)  # the handlers read request.state.body, never receive()


model = None


@asynccontextmanager
async def lifespan(app):
    global model
    package = Path(os.environ["MODEL_PACKAGE"])
    model = load_version(package)
    example = pd.read_json(package / "input_example.json", orient="split")
    if model.predict_proba(example).shape != (len(example), 2):  # smoke test before serving
        raise RuntimeError(f"{package} cannot predict its own input example")
    yield


app = FastAPI(title="Diabetes risk", version="1.0", lifespan=lifespan)
app.add_middleware(BodyLimit)


@app.exception_handler(Exception)
async def server_error(request: Request, exc: Exception) -> JSONResponse:
    return error(500, f"the server failed ({type(exc).__name__}); the request was valid and may be retried")


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


def contributions(patient: pd.DataFrame) -> dict:
    """Each measurement's share of the log-odds: coefficient x standardised value (for scaler + logistic pipelines)."""
    scaler, logistic = model.named_steps["standardscaler"], model.named_steps["logisticregression"]
    parts = logistic.coef_[0] * scaler.transform(patient)[0]
    return {name: round(float(part), 4) for name, part in zip(patient.columns, parts)}


@app.post("/predict", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": Patient.model_json_schema()}}}})
def predict(request: Request) -> dict:
    try:
        patient = Patient.model_validate_json(request.state.body)
    except ValidationError as invalid:
        problems = [{"field": ".".join(map(str, e["loc"])) or "(body)", "problem": e["msg"]} for e in invalid.errors()]
        raise HTTPException(422, problems) from None
    row = pd.DataFrame([patient.model_dump()]).astype(float)
    probability = float(model.predict_proba(row)[0, 1])
    if not np.isfinite(probability):
        raise RuntimeError("the model returned a non-finite probability")
    return {"probability": round(probability, 4), "log_odds_contributions": contributions(row)}
