"""The book builds warning-free, and its pages carry outputs, figures and launch links."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from utils.execute import toc_notebooks
from utils.paths import REPO_ROOT

HTML = REPO_ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def built_book() -> Path:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run(
        [str(jupyter_book), "build", "-W", "-n", "--keep-going", str(REPO_ROOT)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert done.returncode == 0, f"book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return HTML


def test_landing_page_and_runtimes_page(built_book):
    index = (built_book / "intro.html").read_text(encoding="utf-8")
    assert "Machine Learning, Executed" in index
    assert "chapters/01_introduction_to_machine_learning_and_python.html" in index
    runtimes = (built_book / "runtimes.html").read_text(encoding="utf-8")
    assert "<table" in runtimes and "01_introduction_to_machine_learning_and_python.ipynb" in runtimes
    assert (built_book / "index.html").is_file()


@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_chapter_pages_show_outputs_and_launch_links(built_book, notebook):
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    slug = config["repository"]["url"].removeprefix("https://github.com/")
    relative = notebook.relative_to(REPO_ROOT).as_posix()
    page = (built_book / relative).with_suffix(".html").read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]+src="\.\./_images/[^"]+\.png"', page)
    assert len(figures) >= 3, "the chapter's figures are missing from the page"
    for image in re.findall(r'src="\.\./(_images/[^"]+)"', page):
        assert (built_book / image).is_file(), image
    assert "cell_output" in page
    assert f"https://colab.research.google.com/github/{slug}/blob/main/{relative}" in page
    assert f"https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/{relative}" in page
    assert "Reproducibility stamp" in page
