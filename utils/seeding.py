"""Seeding every library in one call."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable

SUPPORTED_FRAMEWORKS: tuple[str, ...] = ("torch", "tensorflow")


def validate_frameworks(frameworks: Iterable[str]) -> tuple[str, ...]:
    """Return ``frameworks`` as a tuple, refusing names the course does not support."""
    if isinstance(frameworks, str):
        raise TypeError(f"frameworks must be a list or tuple of names, not the string {frameworks!r}")
    names = tuple(frameworks)
    unknown = [name for name in names if name not in SUPPORTED_FRAMEWORKS]
    if unknown:
        raise ValueError(f"unknown framework(s) {unknown}; allowed: {list(SUPPORTED_FRAMEWORKS)}")
    return names


def seed_everything(seed: int, frameworks: Iterable[str] = ()) -> int:
    """Seed Python, NumPy and the named frameworks (plus any already imported) (chapter 1).

    ``frameworks`` may contain ``"torch"`` and ``"tensorflow"``; naming one imports it.
    Returns the seed so a notebook can write ``SEED = utils.seed_everything(42)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    names = set(validate_frameworks(frameworks))
    names.update(name for name in SUPPORTED_FRAMEWORKS if name in sys.modules)

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # applies to subprocesses started from here on
    if "torch" in names:
        import torch

        torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    if "tensorflow" in names:
        from utils.device import import_tensorflow

        import_tensorflow()
        import keras

        keras.utils.set_random_seed(seed)  # Python, NumPy and the TensorFlow backend
    return seed
