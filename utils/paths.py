"""Paths resolved from the repository root, never from the current directory."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

REPO_ROOT: Path = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Return the repository's ``data/`` folder of shipped files (chapter 1)."""
    return REPO_ROOT / "data"


def artifacts_dir(*parts: str) -> Path:
    """Create and return a folder under the git-ignored ``artifacts/`` (chapter 1).

    ``parts`` are relative folder names such as ``"ch01", "git_demo"``; absolute paths and
    ``..`` are refused so that notebooks can never write outside ``artifacts/``.
    """
    for part in parts:
        if not isinstance(part, str) or not part:
            raise ValueError(f"artifacts_dir parts must be non-empty strings, got {part!r}")
        pure = PurePosixPath(part.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or Path(part).is_absolute():
            raise ValueError(
                f"artifacts_dir part {part!r} is not allowed: use relative names without '..' "
                "(everything a notebook writes stays under artifacts/)"
            )
    path = REPO_ROOT.joinpath("artifacts", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
