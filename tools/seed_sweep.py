"""Set metric bands from several seeds: re-run a notebook once per seed and collect its checks.

Usage: ``python -m tools.seed_sweep chapters/NN_name.ipynb [--seeds 0-19] [--record [--merge]]``
and ``python -m tools.seed_sweep chapters/NN_name.ipynb --add-committed``.

Each run is a copy of the notebook in which ``random_state=42``, ``seed=42``,
``default_rng(42)``, ``manual_seed(42)`` and a line ``SEED = 42`` use the run's seed instead,
and in which ``utils.check_metric`` records the value rather than failing. Besides the seeds
asked for, the notebook always runs **twice with its shipped seed** (the one its setup cell
passes to ``utils.setup_notebook``): once because that is the run readers see, twice because
two runs with the same seed show whether the notebook is deterministic (``shipped_min`` and
``shipped_max`` in the record; where they differ, the band's margin must cover that too).

The report shows, per check, its band, the smallest and largest value, and what breaks the
margin rule of ``utils.checks`` (half the spread beyond the range at least, three units at most).

``--record`` writes the summary to ``tools/seed_sweeps/NN_name.csv`` (one row per check: seeds,
runs, min, max and the shipped seed's runs); with ``--merge`` the new runs are added to the
recorded ones instead of replacing them (``--seeds none --merge`` adds only the shipped seed's
two runs). ``--add-committed`` adds the committed notebook's own values (a run with the shipped
seed) to the record without running anything, so every value a reader sees lies in the range
its verdict line shows. Every ``check_metric`` line prints that range, and a test fails when a
check has no record, a committed value lies outside it, or a band breaks the margin rule.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tempfile
from pathlib import Path

from utils.checks import (
    CHECK_METADATA_KEY,
    SWEEPS_DIR,
    SweepRecord,
    in_band,
    margin_problems,
    parse_seeds,
    read_sweep_file,
    write_sweep_file,
)
from utils.paths import REPO_ROOT

SHIPPED_RUNS = 2  # runs with the shipped seed in every sweep: the second one measures run-to-run variation

SEED_PATTERNS = (
    (re.compile(r"\brandom_state=42\b"), "random_state={seed}"),
    (re.compile(r"\bseed=42\b"), "seed={seed}"),
    (re.compile(r"\bdefault_rng\(42\)"), "default_rng({seed})"),
    (re.compile(r"\bmanual_seed\(42\)"), "manual_seed({seed})"),
    (re.compile(r"^SEED = 42$", re.MULTILINE), "SEED = {seed}"),  # a chapter that names its seed once
)
SHIPPED_SEED = re.compile(r"utils\.setup_notebook\(seed=(\d+)")
RECORDER = '''
import json as _json
_sweep_records = []
def _record_check(name, value, *, at_least=None, at_most=None, claim=None):
    _sweep_records.append({"check": name, "value": float(value), "at_least": at_least, "at_most": at_most, "claim": claim})
utils.check_metric = _record_check
'''

__all__ = ["parse_seeds", "read_record", "write_record", "format_seeds", "shipped_seed", "seeded_copy", "sweep",
           "summarise", "merge_records", "committed_rows", "report", "main"]
read_record = read_sweep_file
write_record = write_sweep_file


def shipped_seed(nb) -> int:
    """The seed the notebook ships with: the one its setup cell passes to ``utils.setup_notebook``."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            match = SHIPPED_SEED.search(cell.source)
            if match:
                return int(match[1])
    raise ValueError("the notebook never calls utils.setup_notebook(seed=N), so it has no shipped seed")


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
    """Run the notebook once per entry of ``seeds`` (repeats allowed); return one row per (run, check)."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from tools.execute import run_notebook

    nb = nbformat.read(path, as_version=4)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run, seed in enumerate(seeds):
            records_file = Path(tmp) / f"run{run}-seed{seed}.json"
            try:
                run_notebook(seeded_copy(nb, seed, records_file), path.parent, timeout=300)
            except (CellTimeoutError, DeadKernelError) as error:  # a hung or dead kernel, not a failing cell
                print(f"seed {seed}: {type(error).__name__}, running it once more", flush=True)
                run_notebook(seeded_copy(nb, seed, records_file), path.parent, timeout=300)
            records = json.loads(records_file.read_text())
            rows.extend({"seed": seed, "run": run, **record} for record in records)
            print(f"seed {seed}: {len(records)} checks recorded", flush=True)
    return rows


def format_seeds(seeds: list[int]) -> str:
    """The inverse of :func:`parse_seeds`: ``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    parts: list[str] = []
    for seed in sorted(set(seeds)):
        if parts and seed == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{seed}"
        else:
            parts.append(str(seed))
    return ",".join(parts)


def summarise(rows: list[dict], shipped: int) -> list[SweepRecord]:
    """One record per check, in the notebook's order: seeds, runs, range, and the shipped seed's runs."""
    records = []
    for check in dict.fromkeys(row["check"] for row in rows):
        values = [row["value"] for row in rows if row["check"] == check]
        at_shipped = [row["value"] for row in rows if row["check"] == check and row["seed"] == shipped]
        records.append(SweepRecord(
            check=check, seeds=format_seeds([row["seed"] for row in rows if row["check"] == check]),
            runs=len(values), min=min(values), max=max(values), shipped_seed=shipped, shipped_runs=len(at_shipped),
            shipped_min=min(at_shipped) if at_shipped else None, shipped_max=max(at_shipped) if at_shipped else None))
    return records


def merge_records(old: dict[str, SweepRecord], new: list[SweepRecord]) -> list[SweepRecord]:
    """Add the runs of ``new`` to the recorded ones; checks the new runs no longer have are dropped."""
    merged = []
    for record in new:
        before = old.get(record.check)
        if before is None:
            merged.append(record)
            continue
        if before.shipped_seed not in (None, record.shipped_seed):
            raise ValueError(f"{record.check!r}: recorded with shipped seed {before.shipped_seed}, now {record.shipped_seed}")
        shipped = [v for v in (before.shipped_min, before.shipped_max, record.shipped_min, record.shipped_max) if v is not None]
        merged.append(SweepRecord(
            check=record.check, seeds=format_seeds(parse_seeds(before.seeds) + parse_seeds(record.seeds)),
            runs=before.runs + record.runs, min=min(before.min, record.min), max=max(before.max, record.max),
            shipped_seed=record.shipped_seed, shipped_runs=before.shipped_runs + record.shipped_runs,
            shipped_min=min(shipped) if shipped else None, shipped_max=max(shipped) if shipped else None))
    return merged


def committed_rows(nb, shipped: int) -> list[dict]:
    """The checks of the committed run (from the stored outputs' metadata), as rows of one shipped-seed run."""
    rows = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(CHECK_METADATA_KEY)
            if record:
                rows.append({"seed": shipped, "run": "committed", "check": record["name"], "value": record["value"],
                             "at_least": record["at_least"], "at_most": record["at_most"], "claim": record.get("claim")})
    return rows


def report(rows: list[dict], records: list[SweepRecord] | None = None) -> str:
    """Per check: ok/OUT (every run inside the band?), band, min, max, and what breaks the margin rule."""
    lines = []
    recorded = {record.check: record for record in records or []}
    for check in dict.fromkeys(row["check"] for row in rows):
        mine = [row for row in rows if row["check"] == check]
        values = [row["value"] for row in mine]
        low, high, claim = mine[-1]["at_least"], mine[-1]["at_most"], mine[-1].get("claim")
        inside = all(in_band(v, low, high) for v in values)
        band = f"[{'' if low is None else f'{low:g}'}, {'' if high is None else f'{high:g}'}]"
        smallest, largest = (recorded[check].min, recorded[check].max) if check in recorded else (min(values), max(values))
        lines.append(f"{'ok ' if inside else 'OUT'} {check}: band {band}, min {smallest:.4g}, max {largest:.4g}")
        if check in recorded:
            lines += [f"    rule: {problem}" for problem in margin_problems(low, high, recorded[check], claim)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import nbformat

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--seeds", default="0-19", help="seeds besides the shipped one, e.g. 0-19 or 1,5,7, or none (default 0-19)")
    parser.add_argument("--record", action="store_true", help=f"write the summary to {SWEEPS_DIR.relative_to(REPO_ROOT)}/")
    parser.add_argument("--merge", action="store_true", help="with --record: add these runs to the recorded ones")
    parser.add_argument("--add-committed", action="store_true", help="add the committed run's values to the record; runs nothing")
    args = parser.parse_args(argv)
    if args.merge and not args.record:
        parser.error("--merge adds to the record, so it needs --record")
    notebook = args.notebook.resolve()
    nb = nbformat.read(notebook, as_version=4)
    shipped = shipped_seed(nb)
    path = SWEEPS_DIR / f"{notebook.stem}.csv"
    if args.add_committed:
        if not path.is_file():
            parser.error(f"no record to add to: run a sweep with --record first ({path.relative_to(REPO_ROOT)})")
        rows = committed_rows(nb, shipped)
        records = merge_records(read_sweep_file(path), summarise(rows, shipped))
    else:
        others = [] if args.seeds.strip().lower() == "none" else [s for s in parse_seeds(args.seeds) if s != shipped]
        rows = sweep(notebook, others + [shipped] * SHIPPED_RUNS)
        records = summarise(rows, shipped)
        if args.merge and path.is_file():
            records = merge_records(read_sweep_file(path), records)
    print(report(rows, records))
    if args.record or args.add_committed:
        write_sweep_file(path, records)
        print(f"recorded in {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
