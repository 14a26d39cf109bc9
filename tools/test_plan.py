"""How ``make test`` shares a small machine between the notebooks and the other tests.

Measured on the 2-core reference machine, the notebooks run one after another keep 1.2 of its
2 cores busy on average, and ``tests/`` 0.7: the machine is about 40% idle. So ``make test``
runs in two phases:

1. **shared**: the notebooks listed by ``python -m tools.test_plan shared`` and ``tests/``, two
   at a time (pytest-xdist, ``-n 2 --dist loadscope``: each notebook stays in one kernel on one
   worker). The notebooks come first, longest first by ``runtimes.csv``, so that the many short
   test modules fill the end and neither worker waits long for the other;
2. **alone**: the notebooks in ``ALONE`` below, one after another, with the machine to themselves.

A notebook runs alone when a check measures time (a speed-up, a throughput, a latency: a second
process on the machine would move it), or when it computes on both cores for long: PyTorch's,
LightGBM's, XGBoost's and scikit-learn's parallel loops wait for each of their threads at every
step, so a neighbour that takes one core slows all of them. Measured on the 2-core machine with
chapters 2, 5 and 6 in the shared phase: chapter 2 took 191 s instead of 106 s (over its budget),
chapter 5 142 s instead of 64 s, chapter 6 113 s instead of 77 s. The shared ones are those that
compute on one core (chapters 8 and 10 about 1.0 busy core, chapter 7 1.1). Every notebook keeps
its 150 s budget in either phase: in the shared phase it is measured with a neighbour running, a
stricter test than alone. ``tests/test_tools.py`` fails when a notebook whose check names
mention time is missing from ``ALONE``.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

from tools.execute import RUNTIMES_CSV, toc_notebooks
from utils import checks
from utils.paths import REPO_ROOT

ALONE: dict[str, str] = {
    "01_introduction_to_machine_learning_and_python": "times NumPy against a Python loop",
    "02_diving_into_scikit_learn": "grid searches on both cores (1.4 busy cores; 191 s instead of 106 s beside another)",
    "03_deep_dive_into_tensorflow": "times tf.function, training and one request",
    "04_pytorch_fundamentals": "times per-item against per-batch training; PyTorch on both cores",
    "05_the_machine_learning_project_lifecycle": "XGBoost and grid searches on both cores (142 s instead of 64 s beside another)",
    "06_supervised_learning_techniques": "LightGBM and XGBoost on both cores (113 s instead of 77 s beside another)",
    "09_natural_language_processing": "PyTorch on both cores for most of its run (1.7 busy cores)",
    "11_model_deployment_and_scaling": "load tests: throughput and latency",
    "12_capstone_projects": "load test of the diabetes service",
}

# A check whose name says it measures time (as the course names them: "speed-up", "seconds",
# "throughput", "p99 latency", "requests per second", "predict time / direct call time").
TIMING_WORDS = re.compile(r"second|speed|throughput|latency|wall time|\bms\b|faster|slower|\btime\b", re.IGNORECASE)
PHASES = ("shared", "alone")


def check_names(notebook: Path) -> list[str]:
    """The names of the ``utils.check_metric`` calls in a notebook's code cells, as written."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return checks.check_names("".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code")


def timing_checks(notebook: Path) -> list[str]:
    """The checks of a notebook whose names say they measure time."""
    return [name for name in check_names(notebook) if TIMING_WORDS.search(name)]


def recorded_seconds(runtimes: Path = RUNTIMES_CSV) -> dict[str, float]:
    """Each notebook's last measured CPU runtime (``make execute`` writes ``runtimes.csv``), by stem."""
    with runtimes.open(encoding="utf-8") as handle:
        return {Path(row["notebook"]).stem: float(row["cpu_seconds"]) for row in csv.DictReader(handle) if row["cpu_seconds"]}


def plan(notebooks: list[Path] | None = None) -> dict[str, list[Path]]:
    """The notebooks of each phase: shared ones longest first (unmeasured ones first of all), the others in book order."""
    notebooks = toc_notebooks() if notebooks is None else notebooks
    seconds = recorded_seconds()
    shared = [nb for nb in notebooks if nb.stem not in ALONE]
    return {"shared": sorted(shared, key=lambda nb: -seconds.get(nb.stem, float("inf"))),
            "alone": [nb for nb in notebooks if nb.stem in ALONE]}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PHASES:
        print(f"usage: python -m tools.test_plan PHASE, where PHASE is one of {', '.join(PHASES)}; "
              f"got {' '.join(argv) or 'nothing'}", file=sys.stderr)
        return 2
    print(" ".join(path.relative_to(REPO_ROOT).as_posix() for path in plan()[argv[0]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
