"""Exporting a PyTorch model to ONNX quietly (chapter 4 teaches the export; chapter 11 deploys the file)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any


def export_onnx(model: Any, example: Any, path: Path | str, dynamic_batch: bool = True) -> Path:
    """Export ``model`` to an ONNX file with the dynamo exporter; the batch axis is dynamic by default (chapter 11).

    The weights are stored inside the one file (no ``.onnx.data`` beside it), as a device wants.
    ``example`` is one input tensor of the right shape. The exporter's notices that torchvision is
    missing and a FutureWarning about its own internals are kept off the page. Returns the path.
    """
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(example, torch.Tensor):
        raise TypeError(f"example must be one input tensor, got {type(example).__name__}")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"the file name must end in .onnx, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic_shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            torch.onnx.export(model.eval(), (example,), path, dynamo=True, dynamic_shapes=dynamic_shapes,
                              external_data=False, verbose=False)
    finally:
        onnx_logger.setLevel(level)
    return path
