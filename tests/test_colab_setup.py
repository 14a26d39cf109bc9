"""The Colab branch of the setup cell, run for real in fresh kernels with stand-ins for Colab.

Every notebook's first cell clones the course and installs the ``# colab`` pins when
``google.colab`` is imported. Nothing else exercises that branch, so this test runs the real cell
(taken from chapter 1; test_notebooks checks that every chapter's cell is the same) twice, each time
in a new kernel, with four stand-ins:

- a ``google.colab`` module (a namespace-package portion, so ``google.protobuf`` still imports);
- the clone URL pointed at a local bare clone of this repository (``file://``, offline);
- ``/content`` replaced by a temporary folder;
- pip replaced by a recorder (a ``pip`` package earlier on the kernel's path, so ``python -m pip``
  runs it), and git wrapped by a logger that then runs the real git.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tools.execute import toc_notebooks
from utils.paths import REPO_ROOT
from utils.setup import colab_requirements

from .test_notebooks import REPO_URL

COLAB_FOLDER = "/content"
NEVER_INSTALLED = {"numpy", "torch", "tensorflow", "tensorflow-cpu", "keras", "scipy", "pandas", "scikit-learn"}

PIP_RECORDER = '''\
"""Stand-in for pip: record the arguments, install nothing."""
import json, os, sys
with open(os.environ["PIP_RECORD"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
'''

GIT_LOGGER = '''#!/bin/sh
# Stand-in for git: log the call, then run the real git.
printf '%s\\n' "$*" >> "$GIT_RECORD"
exec "{real_git}" "$@"
'''

REPORT = '''\
import json as _json
from importlib import metadata as _metadata
_loaded = sorted({name.split(".")[0] for name in list(sys.modules)})
_distributions = _metadata.packages_distributions()
print(_json.dumps({"root": str(ROOT), "utils": utils.__file__,
                   "loaded_distributions": sorted({d for m in _loaded for d in _distributions.get(m, [])})}))
'''


def setup_cell_source() -> str:
    """The first code cell of the first chapter: the real setup cell, with its last line."""
    nb = nbformat.read(toc_notebooks()[0], as_version=4)
    return next(cell.source for cell in nb.cells if cell.cell_type == "code")


def run_in_fresh_kernel(cells: list[str], cwd: Path, env: dict[str, str]) -> list[nbformat.NotebookNode]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    km = KernelManager(kernel_name="python3")
    client = NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute(env=env)
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb.cells


def stdout_of(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.get("name") == "stdout")


@pytest.fixture(scope="module")
def colab_world(tmp_path_factory):
    """A fake Colab: stand-in module, local bare clone, temporary /content, pip and git recorders."""
    base = tmp_path_factory.mktemp("colab")
    bare = base / "ml-course.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(REPO_ROOT), str(bare)], check=True)
    standins = base / "standins"
    (standins / "google" / "colab").mkdir(parents=True)  # no google/__init__.py: a namespace portion
    (standins / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab\'s module."""\n')
    (standins / "pip").mkdir()
    (standins / "pip" / "__init__.py").write_text("")
    (standins / "pip" / "__main__.py").write_text(PIP_RECORDER)
    bin_dir = base / "bin"
    bin_dir.mkdir()
    real_git = shutil.which("git")
    assert real_git, "git is needed for this test"
    (bin_dir / "git").write_text(GIT_LOGGER.format(real_git=real_git))
    (bin_dir / "git").chmod(0o755)
    content = base / "content"
    content.mkdir()
    workdir = base / "work"  # the kernel's folder: no _toc.yml above it, as on Colab
    workdir.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(standins),
        "PIP_RECORD": str(base / "pip.log"),
        "GIT_RECORD": str(base / "git.log"),
    }
    source = setup_cell_source()
    for original in (REPO_URL, COLAB_FOLDER):
        assert source.count(original) == 1, f"the setup cell should name {original!r} exactly once"
    source = source.replace(REPO_URL, bare.as_uri()).replace(COLAB_FOLDER, str(content))
    runs = [run_in_fresh_kernel(["import google.colab", source, REPORT], workdir, env) for _ in range(2)]
    log = lambda name: (base / name).read_text().splitlines() if (base / name).exists() else []
    return {"runs": runs, "content": content, "pip": [json.loads(line) for line in log("pip.log")], "git": log("git.log")}


def test_setup_cell_clones_once_and_reuses_the_clone(colab_world):
    clones = [call for call in colab_world["git"] if call.split()[:1] == ["clone"]]
    assert len(clones) == 1, f"expected one clone over two runs, git calls: {colab_world['git']}"
    assert "--depth=1" in clones[0]
    for cells in colab_world["runs"]:
        report = json.loads(stdout_of(cells[2]).strip().splitlines()[-1])
        assert Path(report["root"]) == colab_world["content"] / "ml-course"


def test_setup_cell_imports_utils_from_the_clone(colab_world):
    clone = (colab_world["content"] / "ml-course").resolve()
    for cells in colab_world["runs"]:
        report = json.loads(stdout_of(cells[2]).strip().splitlines()[-1])
        assert Path(report["utils"]).resolve().is_relative_to(clone), report["utils"]
        assert "seed" in stdout_of(cells[1]), "setup_notebook's stamp is missing from the setup cell's output"


def test_setup_cell_installs_only_the_colab_pins(colab_world):
    clone_pins = colab_requirements(colab_world["content"] / "ml-course" / "requirements.txt")
    assert clone_pins, "no # colab pins found in the clone's requirements.txt"
    assert colab_world["pip"] == [["install", "-q", *clone_pins]] * 2, colab_world["pip"]
    names = {re.split(r"[=<>\[]", pin)[0].lower() for pin in clone_pins}
    assert not names & NEVER_INSTALLED, f"the setup cell would reinstall Colab's own {sorted(names & NEVER_INSTALLED)}"


def test_utils_needs_no_colab_pin_before_they_are_installed(colab_world):
    """The cell imports utils *before* installing the extras, so utils must not import any of them."""
    colab_names = {re.split(r"[=<>\[]", pin)[0].lower().replace("_", "-") for pin in colab_requirements()}
    for cells in colab_world["runs"]:
        loaded = json.loads(stdout_of(cells[2]).strip().splitlines()[-1])["loaded_distributions"]
        early = colab_names & {name.lower().replace("_", "-") for name in loaded}
        assert not early, f"the setup cell imported {sorted(early)}, which Colab lacks until the cell installs it"
