"""Imports of libraries whose own import does more than the course needs."""

from __future__ import annotations

import logging
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


class _DropTorchaoEnumNotices(logging.Filter):
    """Drops torch's notice that torchao registers enums as pytree constants (torchao's business, not the reader's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is an Enum subclass and is now natively supported" not in record.getMessage()


def import_torchao() -> ModuleType:
    """Import torchao without its log lines about GPU kernels and enums (chapter 10; chapter 9's transformers imports it too).

    On a machine without a GPU, ``import torchao`` logs one warning per CUDA kernel library it
    cannot load; that logger is set to ERROR during the import only. And each torchao module that
    registers an enum makes torch log a deprecation notice, also later when transformers imports
    more of torchao; a filter on torch's pytree logger drops exactly that notice. Import errors
    still propagate.
    """
    pytree_logger = logging.getLogger("torch.utils._pytree")
    if not any(isinstance(f, _DropTorchaoEnumNotices) for f in pytree_logger.filters):
        pytree_logger.addFilter(_DropTorchaoEnumNotices())
    if "torchao" in sys.modules:
        return sys.modules["torchao"]
    torchao_logger = logging.getLogger("torchao")
    level = torchao_logger.level
    torchao_logger.setLevel(logging.ERROR)
    try:
        import torchao
    finally:
        torchao_logger.setLevel(level)
    return torchao
