"""Point the course at another GitHub repository (a fork, or where it is finally published).

Usage: ``python -m tools.set_repo_url https://github.com/OWNER/NAME``

The repository URL is one setting, ``repository.url`` in ``_config.yml``; the book's Colab and
Binder buttons read it from there. A notebook opened on Colab cannot read ``_config.yml`` before it
has cloned the course, so every chapter's setup cell and Colab badge carry a copy of the URL, as
does the landing page's clone command. This tool rewrites the setting and every copy in the files
git tracks, and the tests (tests/test_notebooks.py) fail if a copy ever disagrees with the setting.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from utils.paths import REPO_ROOT

# What may follow the URL: a path, white space, a quote (escaped, as in a notebook's JSON), a bracket.
URL_END = r"""(?=[/\s\\"'`)\]]|$)"""
GITHUB_URL = re.compile(r"^https://github\.com/(?P<slug>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$")


def configured_url(root: Path = REPO_ROOT) -> str:
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"]


def slug_of(url: str) -> str:
    match = GITHUB_URL.match(url)
    if not match or match["slug"].endswith(".git"):
        raise ValueError(f"expected a GitHub repository URL like https://github.com/OWNER/NAME (no .git, no trailing /), got {url!r}")
    return match["slug"]


def rewrite(text: str, old_slug: str, new_slug: str) -> str:
    """Replace the repository's GitHub and Colab URLs; other repositories' URLs stay as they are."""
    old = re.escape(old_slug)
    text = re.sub(rf"https://github\.com/{old}{URL_END}", f"https://github.com/{new_slug}", text, flags=re.M)
    return re.sub(rf"colab\.research\.google\.com/github/{old}/", f"colab.research.google.com/github/{new_slug}/", text)


def tracked_text_files(root: Path) -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.decode().split("\0")
    files = []
    for name in filter(None, names):
        path = root / name
        if path.is_file() and path.suffix in {".md", ".ipynb", ".yml", ".yaml", ".txt", ".py", ".toml", ".cfg"}:
            files.append(path)
    return files


def set_repo_url(new_url: str, root: Path = REPO_ROOT) -> list[Path]:
    """Rewrite the URL everywhere in ``root``; return the files that changed."""
    old_slug, new_slug = slug_of(configured_url(root)), slug_of(new_url)
    changed = []
    for path in tracked_text_files(root):
        text = path.read_text(encoding="utf-8")
        new_text = rewrite(text, old_slug, new_slug)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
            changed.append(path)
    if configured_url(root) != new_url:
        raise RuntimeError(f"_config.yml's repository.url was not rewritten (it is {configured_url(root)!r})")
    return changed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        changed = set_repo_url(argv[0])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in changed:
        print("rewrote", path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
