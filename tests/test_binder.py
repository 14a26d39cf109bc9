"""Binder's own environment: the pins of requirements.txt, with torch's CPU-only wheel."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tools import binder_env
from utils.paths import REPO_ROOT

PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-\[\]]+)==(?P<version>[^\s#]+)")


def pins(path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            found[match["name"].lower()] = match["version"]
    return found


def test_binder_files_are_generated_from_requirements():
    assert binder_env.main(["--check"]) == 0, "binder/ is out of date: run `python -m tools.binder_env`"


def test_binder_pins_equal_the_course_pins_except_the_cpu_torch():
    course, binder = pins(REPO_ROOT / "requirements.txt"), pins(REPO_ROOT / "binder" / "requirements.txt")
    assert set(binder) == set(course)
    differing = {name for name in course if binder[name] != course[name]}
    assert differing == {"torch"}, differing
    assert binder["torch"] == course["torch"] + "+cpu"
    assert "tensorflow-cpu" in binder and "tensorflow" not in binder and "tensorflow[and-cuda]" not in binder
    assert "xgboost-cpu" in binder and "xgboost" not in binder


def test_binder_asks_for_the_pytorch_cpu_index_and_python_311():
    text = (REPO_ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text.splitlines()
    assert (REPO_ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"


def test_binder_requirements_needs_exactly_one_torch_pin(tmp_path):
    no_torch = tmp_path / "requirements.txt"
    no_torch.write_text("numpy==2.0\n")
    with pytest.raises(ValueError, match="pin torch exactly once"):
        binder_env.binder_requirements(no_torch)
    two = tmp_path / "two.txt"
    two.write_text("torch==2.0\ntorch==2.1\n")
    with pytest.raises(ValueError, match="found 2"):
        binder_env.binder_requirements(two)
    one = tmp_path / "one.txt"
    one.write_text("torch==2.13.0  # comment\nnumpy==2.0\n")
    assert "torch==2.13.0+cpu  # comment\nnumpy==2.0\n" in binder_env.binder_requirements(one)


def test_binder_post_build_installs_the_course_lab_settings(tmp_path):
    env = {**os.environ, "NB_PYTHON_PREFIX": str(tmp_path)}
    subprocess.run(["bash", str(REPO_ROOT / "binder" / "postBuild")], cwd=REPO_ROOT, env=env, check=True)
    installed = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "ml-course.json"
    assert installed.read_text() == (REPO_ROOT / "jupyterlab" / "overrides.json").read_text()
