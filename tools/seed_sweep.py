"""Set metric bands from several seeds: re-run a notebook once per seed and collect its checks.

Usage: ``python -m tools.seed_sweep chapters/NN_name.ipynb --seeds 0-19 [--record]``

Each run is a copy of the notebook in which ``random_state=42``, ``seed=42``,
``default_rng(42)`` and ``manual_seed(42)`` use the run's seed instead, and in which ``utils.check_metric`` records the
value rather than failing. The report shows, per check, its band and the smallest and largest
value over the seeds: a band is sound when every seed lies inside it with some margin.

``--record`` writes that summary to ``tools/seed_sweeps/NN_name.csv`` (check, seeds, runs, min,
max). The book's "What this book checks" page shows it next to each band, and a test fails when a
check has no record or a recorded value lies outside the check's current band.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import re
import sys
import tempfile
from pathlib import Path

from utils.checks import in_band
from utils.paths import REPO_ROOT

SWEEPS_DIR = REPO_ROOT / "tools" / "seed_sweeps"
SWEEP_COLUMNS = ("check", "seeds", "runs", "min", "max")

SEED_PATTERNS = (
    (re.compile(r"\brandom_state=42\b"), "random_state={seed}"),
    (re.compile(r"\bseed=42\b"), "seed={seed}"),
    (re.compile(r"\bdefault_rng\(42\)"), "default_rng({seed})"),
    (re.compile(r"\bmanual_seed\(42\)"), "manual_seed({seed})"),
    (re.compile(r"^SEED = 42$", re.MULTILINE), "SEED = {seed}"),  # a chapter that names its seed once
)
RECORDER = '''
import json as _json
_sweep_records = []
def _record_check(name, value, *, at_least=None, at_most=None):
    _sweep_records.append({"check": name, "value": float(value), "at_least": at_least, "at_most": at_most})
utils.check_metric = _record_check
'''


def parse_seeds(text: str) -> list[int]:
    """Parse ``"0-9"`` or ``"1,5,7"`` into a list of seeds."""
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


def seeded_copy(nb, seed: int, records_file: Path):
    """Return a copy of ``nb`` that uses ``seed`` and records its checks into ``records_file``."""
    import nbformat

    clone = copy.deepcopy(nb)
    code_positions = [i for i, cell in enumerate(clone.cells) if cell.cell_type == "code"]
    if not code_positions:
        raise ValueError("the notebook has no code cells")
    for i in code_positions:
        source = clone.cells[i].source
        for pattern, replacement in SEED_PATTERNS:
            source = pattern.sub(replacement.format(seed=seed), source)
        clone.cells[i].source = source
    clone.cells.insert(code_positions[0] + 1, nbformat.v4.new_code_cell(RECORDER))
    dump = f"_json.dump(_sweep_records, open({str(records_file)!r}, 'w'))"
    clone.cells.append(nbformat.v4.new_code_cell(dump))
    return clone


def sweep(path: Path, seeds: list[int]) -> list[dict]:
    """Run the notebook once per seed; return one row per (seed, check)."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from tools.execute import run_notebook

    nb = nbformat.read(path, as_version=4)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            records_file = Path(tmp) / f"seed{seed}.json"
            try:
                run_notebook(seeded_copy(nb, seed, records_file), path.parent, timeout=300)
            except (CellTimeoutError, DeadKernelError) as error:  # a hung or dead kernel, not a failing cell
                print(f"seed {seed}: {type(error).__name__}, running it once more", flush=True)
                run_notebook(seeded_copy(nb, seed, records_file), path.parent, timeout=300)
            for record in json.loads(records_file.read_text()):
                rows.append({"seed": seed, **record})
            print(f"seed {seed}: {sum(r['seed'] == seed for r in rows)} checks recorded", flush=True)
    return rows


def report(rows: list[dict]) -> str:
    """Summarise rows per check: band, min, max, and whether every seed is inside the band."""
    lines = []
    checks = dict.fromkeys(row["check"] for row in rows)
    for check in checks:
        values = [row["value"] for row in rows if row["check"] == check]
        first = next(row for row in rows if row["check"] == check)
        low, high = first["at_least"], first["at_most"]
        inside = all(in_band(v, low, high) for v in values)
        band = f"[{'' if low is None else f'{low:g}'}, {'' if high is None else f'{high:g}'}]"
        lines.append(f"{'ok ' if inside else 'OUT'} {check}: band {band}, min {min(values):.4g}, max {max(values):.4g}")
    return "\n".join(lines)


def format_seeds(seeds: list[int]) -> str:
    """The inverse of :func:`parse_seeds`: ``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    parts: list[str] = []
    for seed in sorted(set(seeds)):
        if parts and seed == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{seed}"
        else:
            parts.append(str(seed))
    return ",".join(parts)


def summarise(rows: list[dict]) -> list[dict]:
    """One record per check: the seeds it ran with, how many runs, and the smallest and largest value."""
    records = []
    for check in dict.fromkeys(row["check"] for row in rows):
        mine = [row for row in rows if row["check"] == check]
        values = [row["value"] for row in mine]
        records.append({"check": check, "seeds": format_seeds([row["seed"] for row in mine]),
                        "runs": len(mine), "min": repr(min(values)), "max": repr(max(values))})
    return records


def write_record(path: Path, records: list[dict]) -> None:
    """Write the summary CSV that the book's checks page and its test read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SWEEP_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def read_record(path: Path) -> dict[str, dict]:
    """Read a summary CSV written by :func:`write_record`, keyed by check name."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["check"]: row for row in csv.DictReader(handle)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 1,5,7 (default 0-19)")
    parser.add_argument("--record", action="store_true", help=f"write the summary to {SWEEPS_DIR.relative_to(REPO_ROOT)}/")
    args = parser.parse_args(argv)
    notebook = args.notebook.resolve()
    rows = sweep(notebook, parse_seeds(args.seeds))
    print(report(rows))
    if args.record:
        path = SWEEPS_DIR / f"{notebook.stem}.csv"
        write_record(path, summarise(rows))
        print(f"recorded in {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
