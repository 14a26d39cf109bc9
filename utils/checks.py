"""The metric-band check that turns every number the prose states into a test, with its evidence.

A band is set from a seed sweep (``python -m tools.seed_sweep``): the notebook re-run with seeds
0-19 and twice with its shipped seed. The sweep's summary lives in ``tools/seed_sweeps/<chapter>.csv``,
and every verdict line shows it next to the band, e.g.
``check: test accuracy >= 0.95 ... ok (21 seeds: 0.962 to 0.984)``: the same line on every
machine, so nbval can compare it, and the reader sees what the claim rests on.

In a notebook each verdict is a display output whose metadata (``CHECK_METADATA_KEY``) also
records the name, the band, the claim and the measured value: the book's "What this book checks"
page reads the committed run from there.

**The margin rule** (one rule for both sides of a band, tested for every check):

- *not too tight*: each bound lies at least half the sweep's spread (max - min) beyond the sweep's
  range, and at least as far as two runs with the shipped seed differed (``rerun``);
- *not too loose*: each bound lies at most ``MAX_LOOSENESS`` units beyond the range, a unit being
  the spread or 5 % of the value, whichever is larger, unless the call says with ``claim=`` that a
  weaker claim is meant (beats chance, positive at all, smaller than the other).
- A *ratio* (``a / b`` in the check's name, positive in every run) is measured on a log scale:
  "3x to 12x" then has the same width below as above.
- A *tolerance* (only ``at_most``, at most ``TOLERANCE_CEILING``, on a value that is zero in exact
  arithmetic, such as ``max |autograd - formula|``) states an exact fact and is exempt from the
  looseness limit.
"""

from __future__ import annotations

import ast
import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

from utils.paths import REPO_ROOT

CHECK_METADATA_KEY = "course_check"
SWEEPS_DIR = REPO_ROOT / "tools" / "seed_sweeps"
SWEEP_COLUMNS = ("check", "seeds", "runs", "min", "max", "shipped_seed", "shipped_runs", "shipped_min", "shipped_max")
MIN_HEADROOM = 0.5  # in units of the sweep's spread
MAX_LOOSENESS = 3.0  # in units of max(spread, RELATIVE_UNIT * |value|)
RELATIVE_UNIT = 0.05
TOLERANCE_CEILING = 1e-3
SWEEP_COMMAND = "python -m tools.seed_sweep chapters/NN_name.ipynb --record"


class MetricCheckError(AssertionError):
    """A metric fell outside the band the course text promises."""


class MissingSweepError(LookupError):
    """A check has no seed-sweep record, so its band rests on no evidence."""


@dataclass(frozen=True)
class SweepRecord:
    """One row of a sweep summary: the evidence behind one check's band."""

    check: str
    seeds: str  # e.g. "0-19,42"
    runs: int  # notebook runs, the shipped seed's repeats included
    min: float
    max: float
    shipped_seed: int | None = None
    shipped_runs: int = 0
    shipped_min: float | None = None
    shipped_max: float | None = None

    @property
    def seed_count(self) -> int:
        return len(parse_seeds(self.seeds))

    @property
    def spread(self) -> float:
        return self.max - self.min

    @property
    def rerun(self) -> float | None:
        """How far apart runs with the same (shipped) seed landed; None with fewer than two."""
        if self.shipped_runs < 2 or self.shipped_min is None or self.shipped_max is None:
            return None
        return self.shipped_max - self.shipped_min

    def describe(self) -> str:
        """``21 seeds: 0.962 to 0.984`` (or ``21 seeds: always 5``), as the verdict line shows it."""
        seeds = f"{self.seed_count} seed{'s' if self.seed_count != 1 else ''}"
        if short_number(self.min) == short_number(self.max):
            return f"{seeds}: always {short_number(self.min)}"
        return f"{seeds}: {short_number(self.min)} to {short_number(self.max)}"

    def as_row(self) -> dict[str, str]:
        """The CSV row (floats written with ``repr`` so nothing is lost)."""
        def text(value) -> str:
            return "" if value is None else repr(value) if isinstance(value, float) else str(value)

        return {column: text(getattr(self, column)) for column in SWEEP_COLUMNS}

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "SweepRecord":
        def number(key, kind=float):
            value = (row.get(key) or "").strip()
            return kind(value) if value else None

        return cls(check=row["check"], seeds=row["seeds"], runs=int(row["runs"]), min=float(row["min"]),
                   max=float(row["max"]), shipped_seed=number("shipped_seed", int),
                   shipped_runs=number("shipped_runs", int) or 0,
                   shipped_min=number("shipped_min"), shipped_max=number("shipped_max"))


def parse_seeds(text: str) -> list[int]:
    """Parse ``"0-9"`` or ``"1,5,7"`` into a list of seeds."""
    import re

    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise ValueError(f"bad seed list {text!r}; use e.g. '0-9' or '1,5,7'")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise ValueError(f"bad seed range {part.strip()!r}: the end is below the start")
        seeds.extend(range(low, high + 1))
    return seeds


def short_number(value: float) -> str:
    """Three significant digits, without an exponent for large numbers: 0.962, 456, 1350, 3.5e-07."""
    text = f"{value:.3g}"
    return f"{float(text):.0f}" if "e+" in text else text


def read_sweep_file(path: Path) -> dict[str, SweepRecord]:
    """Read one chapter's sweep summary (written by ``python -m tools.seed_sweep --record``)."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return {row["check"]: SweepRecord.from_row(row) for row in csv.DictReader(handle)}


def write_sweep_file(path: Path, records: list[SweepRecord]) -> None:
    """Write one chapter's sweep summary, one row per check, in the order given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SWEEP_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(record.as_row() for record in records)


_cache: dict[Path, tuple[float, dict[str, SweepRecord]]] = {}


def sweep_record(name: str, sweeps_dir: Path | None = None) -> SweepRecord | None:
    """The sweep record of the check called ``name`` in any chapter (check names are unique in the book)."""
    folder = SWEEPS_DIR if sweeps_dir is None else Path(sweeps_dir)
    for path in sorted(folder.glob("*.csv")):
        stamp = path.stat().st_mtime_ns
        if path not in _cache or _cache[path][0] != stamp:
            _cache[path] = (stamp, read_sweep_file(path))
        if name in _cache[path][1]:
            return _cache[path][1][name]
    return None


# ---------------------------------------------------------------- the margin rule
def is_tolerance(at_least: float | None, at_most: float | None, record: SweepRecord) -> bool:
    """A band ``<= small`` (or ``in [-small, small]``) around a value that is zero in exact arithmetic,
    such as ``max |autograd - formula|``: an exact fact up to rounding."""
    if at_most is None or not 0 < at_most <= TOLERANCE_CEILING:
        return False
    if at_least is None:
        return record.min >= 0
    return -TOLERANCE_CEILING <= at_least < 0


def is_ratio(record: SweepRecord) -> bool:
    """A ratio (``a / b`` in its name, positive in every run): its margins are measured on a log scale,
    so that "3x to 12x" is as wide below as above (a ratio cannot fall below 0)."""
    return " / " in record.check and record.min > 0


def _scaled(record: SweepRecord, value: float | None) -> float | None:
    """``value`` on the scale the rule measures this check on: log for a ratio, as is otherwise."""
    if value is None or not is_ratio(record):
        return value
    return math.log(value) if value > 0 else -math.inf


def _spread(record: SweepRecord) -> float:
    return _scaled(record, record.max) - _scaled(record, record.min)


def _rerun(record: SweepRecord) -> float:
    if record.rerun is None:
        return 0.0
    return _scaled(record, record.shipped_max) - _scaled(record, record.shipped_min)


def looseness_unit(record: SweepRecord) -> float:
    """The unit of looseness: the sweep's spread, or 5 % of the value where that is larger."""
    if is_ratio(record):
        return max(_spread(record), math.log1p(RELATIVE_UNIT))
    return max(record.spread, RELATIVE_UNIT * max(abs(record.min), abs(record.max)))


def band_distances(at_least: float | None, at_most: float | None, record: SweepRecord) -> dict[str, float]:
    """How far each bound of the band lies beyond the sweep's range (negative: the sweep crossed it);
    for a ratio, in log units."""
    distances = {}
    if at_least is not None:
        distances["lower"] = _scaled(record, record.min) - _scaled(record, at_least)
    if at_most is not None:
        distances["upper"] = _scaled(record, at_most) - _scaled(record, record.max)
    return distances


def looseness(at_least: float | None, at_most: float | None, record: SweepRecord) -> dict[str, float]:
    """Each bound's distance from the sweep's range in looseness units (inf: a gap where nothing varies)."""
    unit = looseness_unit(record)
    return {side: (distance / unit if unit > 0 else (0.0 if distance == 0 else math.inf))
            for side, distance in band_distances(at_least, at_most, record).items()}


def margin_problems(at_least: float | None, at_most: float | None, record: SweepRecord,
                    claim: str | None = None) -> list[str]:
    """What breaks the margin rule for this band and evidence; an empty list when nothing does."""
    problems = []
    scale = " (log scale: a ratio)" if is_ratio(record) else ""
    needed = max(MIN_HEADROOM * _spread(record), _rerun(record))
    for side, distance in band_distances(at_least, at_most, record).items():
        if distance < needed - 1e-12:
            problems.append(f"the {side} bound is {distance:.3g} beyond the sweep's range; the rule asks for at "
                            f"least {needed:.3g} (half the spread {_spread(record):.3g}, or the rerun difference){scale}")
    if claim is None and not is_tolerance(at_least, at_most, record):
        for side, units in looseness(at_least, at_most, record).items():
            if units > MAX_LOOSENESS + 1e-9:
                problems.append(f"the {side} bound is {units:.3g} units of {looseness_unit(record):.3g} beyond the "
                                f"sweep's range (at most {MAX_LOOSENESS:g}){scale}; tighten it or say what weaker "
                                "claim is meant with claim=")
    return problems


# ---------------------------------------------------------------- the check
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


def verdict_line(name: str, at_least: float | None, at_most: float | None, record: SweepRecord) -> str:
    """The line a passing check prints: name, band and the sweep it was set from."""
    return f"check: {name} {_describe_band(at_least, at_most)} ... ok ({record.describe()})"


def check_names(sources: Iterable[str]) -> list[str]:
    """The name of every ``utils.check_metric(...)`` call in these code-cell sources, in order.

    Lines of IPython magics and shell escapes (``%``, ``!``) are skipped. A name must be a string
    literal, since the checks page and the sweep records list it as written; anything else is a
    ``ValueError`` that shows the call.
    """
    names = []
    for cell_source in sources:
        source = "\n".join(line for line in cell_source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check_metric"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "utils"):
                first = node.args[0] if node.args else None
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    raise ValueError("check_metric needs its name as a string literal (the checks page lists it): "
                                     f"{ast.unparse(node)[:80]}")
                names.append(first.value)
    return names


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
    claim: str | None = None,
) -> None:
    """Assert ``value`` lies in the band and print a stable one-line verdict with its evidence (chapter 1).

    Prints e.g. ``check: test accuracy >= 0.95 ... ok (21 seeds: 0.962 to 0.984)``: the band and
    the range the seed sweep recorded for this check (``tools/seed_sweeps/``), never the value, so
    the line is identical on every machine. ``claim`` says, in words, what a deliberately weak band
    claims ("better than chance"); the checks page shows it. Raises :class:`MetricCheckError`
    outside the band and :class:`MissingSweepError` when no sweep recorded the check. In a
    notebook the value travels in the output's metadata, unseen.
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
    if claim is not None and (not isinstance(claim, str) or not claim.strip()):
        raise ValueError(f"claim= must be a sentence saying what the band claims, got {claim!r}")
    band = _describe_band(low, high)
    record = sweep_record(name)
    evidence = f" ({record.describe()})" if record else ""
    if not in_band(number, low, high):
        raise MetricCheckError(f"check failed: {name} = {number:.4g}, expected {band}{evidence}")
    if record is None:
        raise MissingSweepError(
            f"no seed sweep has recorded the check {name!r} (looked in {_shown(SWEEPS_DIR)}/*.csv), "
            f"so its band rests on no evidence: run `{SWEEP_COMMAND}` for this chapter (seeds 0-19 and the "
            "shipped seed twice), then set the band from the range it prints")
    metadata = {"name": name, "value": number, "at_least": low, "at_most": high, "claim": claim}
    _show_verdict(verdict_line(name, low, high, record), metadata)


def _shown(path: Path) -> str:
    """A path relative to the repository where it lies inside it."""
    try:
        return str(Path(path).relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


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
