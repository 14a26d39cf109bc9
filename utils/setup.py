"""What the setup cell of every notebook calls."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from utils.paths import REPO_ROOT
from utils.plotting import set_plot_style
from utils.report import environment_report, format_stamp
from utils.seeding import seed_everything

COLAB_MARKER = re.compile(r"^\s*(?P<requirement>[A-Za-z0-9_.\-\[\]]+==[^\s#]+)\s*#.*\bcolab\b")


def setup_notebook(seed: int = 42, frameworks: Sequence[str] = ()) -> None:
    """Seed everything, apply the plot style and print the reproducibility stamp (chapter 1)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # stable-baselines3 makes a log folder for every model it trains, in /tmp unless SB3_LOGDIR names one
    os.environ.setdefault("SB3_LOGDIR", str(REPO_ROOT / "artifacts" / "sb3-logs"))
    seed_everything(seed, frameworks)
    set_plot_style()
    print(format_stamp(environment_report(frameworks, seed=seed)))


def colab_requirements(requirements: Path | None = None) -> list[str]:
    """Return the pins in requirements.txt marked ``# colab``: what Colab lacks (chapter 1)."""
    path = REPO_ROOT / "requirements.txt" if requirements is None else requirements
    return [
        match["requirement"]
        for line in path.read_text(encoding="utf-8").splitlines()
        if (match := COLAB_MARKER.match(line))
    ]


def install_colab_extras() -> None:
    """On Colab, pip-install only the marked pins; never numpy, torch or tensorflow (chapter 1)."""
    if "google.colab" not in sys.modules:
        raise RuntimeError("install_colab_extras() is for Google Colab; locally run `make lab`")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *colab_requirements()], check=True)
