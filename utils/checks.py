"""The metric-band check that turns every number the prose states into a test.

In a notebook each verdict is a display output whose metadata (``CHECK_METADATA_KEY``) also
records the name, the band and the measured value: nbval compares only the visible line, and the
book's "What this book checks" page reads the values of the committed run from the metadata.
"""

from __future__ import annotations

import math
from numbers import Real


CHECK_METADATA_KEY = "course_check"


class MetricCheckError(AssertionError):
    """A metric fell outside the band the course text promises."""


def _describe_band(at_least: float | None, at_most: float | None) -> str:
    if at_least is not None and at_most is not None:
        return f"in [{at_least:g}, {at_most:g}]"
    if at_least is not None:
        return f">= {at_least:g}"
    return f"<= {at_most:g}"


def in_band(value: float, at_least: float | None, at_most: float | None) -> bool:
    """True when ``value`` is finite and inside the band; a missing bound is open (chapter 1)."""
    return (
        not math.isinf(value)
        and (at_least is None or value >= at_least)
        and (at_most is None or value <= at_most)
    )


def _require_number(label: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{label} must be a real number, got {type(value).__name__} {value!r}")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"{label} is NaN; a metric must be a finite number")
    return number


def check_metric(
    name: str,
    value: float,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
) -> None:
    """Assert ``value`` lies in the band and print a stable one-line verdict (chapter 1).

    Prints e.g. ``check: test accuracy >= 0.97 ... ok`` (no value, so the line is identical
    on every machine) and returns None, so a notebook cell shows only that line; raises
    :class:`MetricCheckError` outside the band. In a notebook the value travels in the output's
    metadata, unseen.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"check_metric needs a non-empty metric name, got {name!r}")
    number = _require_number(f"value of {name!r}", value)
    if at_least is None and at_most is None:
        raise ValueError(f"check_metric({name!r}) needs at_least=, at_most= or both")
    low = None if at_least is None else _require_number("at_least", at_least)
    high = None if at_most is None else _require_number("at_most", at_most)
    if low is not None and high is not None and low > high:
        raise ValueError(f"empty band for {name!r}: at_least={low:g} is above at_most={high:g}")
    band = _describe_band(low, high)
    if not in_band(number, low, high):
        raise MetricCheckError(f"check failed: {name} = {number:.4g}, expected {band}")
    record = {"name": name, "value": number, "at_least": low, "at_most": high}
    _show_verdict(f"check: {name} {band} ... ok", record)


def _show_verdict(line: str, record: dict) -> None:
    """Print ``line``; inside IPython, as a display output carrying ``record`` in its metadata."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python without IPython
        get_ipython = lambda: None  # noqa: E731
    if get_ipython() is None:
        print(line)
        return
    from IPython.display import display

    display({"text/plain": line}, raw=True, metadata={CHECK_METADATA_KEY: record})
