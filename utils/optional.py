"""Imports of libraries whose own import does more than the course needs."""

from __future__ import annotations

import sys
import warnings
from types import ModuleType


def import_umap() -> ModuleType:
    """Import umap-learn without its optional TensorFlow part (chapter 2, used again in chapter 7).

    ``import umap`` also imports TensorFlow when it is installed, only for ``ParametricUMAP``:
    that costs seconds and prints TensorFlow's native log lines. The course uses ``umap.UMAP``
    alone, so TensorFlow is hidden while umap is imported (unless it is already imported).
    """
    if "umap" in sys.modules:
        return sys.modules["umap"]
    hide_tensorflow = "tensorflow" not in sys.modules
    if hide_tensorflow:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]  # makes `import tensorflow` fail fast
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)
            import umap
    finally:
        if hide_tensorflow:
            del sys.modules["tensorflow"]
    return umap
