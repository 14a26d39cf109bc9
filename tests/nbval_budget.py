"""pytest plugin: enforce each notebook's wall-time budget under nbval and record the times.

The clock for a notebook starts when pytest sets up its first cell (which starts the kernel,
so imports count) and stops after its last cell. The time of every notebook run is written to
``artifacts/test-runtimes/<notebook>.json``; a notebook over budget fails its last cell.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from utils.paths import artifacts_dir

_start: dict[str, float] = {}
_last_item: dict[str, str] = {}


def _notebook_key(item: pytest.Item) -> str | None:
    path = Path(str(item.path))
    return path.name if path.suffix == ".ipynb" else None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("notebook_budget_seconds", "wall-time budget for one notebook", default="150")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        key = _notebook_key(item)
        if key is not None:
            _last_item[key] = item.nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    key = _notebook_key(item)
    if key is not None:
        _start.setdefault(key, time.perf_counter())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    key = _notebook_key(item)
    if key is None or report.when != "call" or _last_item.get(key) != item.nodeid:
        return
    seconds = time.perf_counter() - _start[key]
    budget = float(item.config.getini("notebook_budget_seconds"))
    record = {"notebook": key, "seconds": round(seconds, 1), "budget_seconds": budget}
    out = artifacts_dir("test-runtimes") / f"{Path(key).stem}.json"
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    report.user_properties.append(("notebook_runtime", record))
    if seconds > budget and report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"{key} took {seconds:.1f} s from kernel start to last cell, over its "
            f"{budget:.0f} s budget; make it faster (smaller data, fewer epochs)"
        )


_records: list[dict] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # runs in the main process for every report, also those sent back by xdist workers
    _records.extend(value for name, value in report.user_properties if name == "notebook_runtime")


def pytest_terminal_summary(terminalreporter) -> None:
    records = _records
    if records:
        terminalreporter.section("notebook wall times")
        for record in sorted(records, key=lambda r: r["notebook"]):
            terminalreporter.write_line(
                f"{record['notebook']}: {record['seconds']:.1f} s (budget {record['budget_seconds']:.0f} s)"
            )
