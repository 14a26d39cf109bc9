"""Device choice: the GPU when present, the CPU otherwise, and never silently CPU on a GPU runner."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    import torch

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
DEVICE_KINDS = ("auto", "cpu", "cuda")


class GPURequiredError(RuntimeError):
    """``REQUIRE_GPU=1`` is set but a framework sees no GPU."""


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence C++ log lines (TensorFlow, LiteRT) written straight to stderr, inside a ``with`` (chapter 1, used in chapter 3).

    Python exceptions still propagate; only what native code prints to file descriptor 2 is dropped.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow quietly: no native start-up lines, Python logger at ERROR (chapter 1).

    Import errors still propagate. Notebooks that name ``"tensorflow"`` in the setup cell get
    TensorFlow imported this way before their own ``import tensorflow``.
    """
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with native_stderr_silenced():
            import tensorflow  # noqa: F401
        # TF's Python logger repeats INFO/WARNING lines (with machine paths) on stdout and stderr
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")
    return sys.modules["tensorflow"]


def gpu_required() -> bool:
    """Return True when the ``REQUIRE_GPU`` environment variable asks for a GPU (chapter 1)."""
    raw = os.environ.get("REQUIRE_GPU", "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"REQUIRE_GPU={raw!r} is not understood; use one of {sorted(_TRUE | _FALSE - {''})} "
        "or leave it unset"
    )


def torch_device(kind: str = "auto") -> torch.device:
    """Return the PyTorch device: CUDA when present, else CPU (chapter 1, used from chapter 4).

    ``kind`` is ``"auto"`` (default), ``"cpu"`` (e.g. for timing comparisons) or ``"cuda"``.
    With ``REQUIRE_GPU=1`` a missing GPU raises :class:`GPURequiredError` instead of
    falling back to the CPU.
    """
    if kind not in DEVICE_KINDS:
        raise ValueError(f"unknown device kind {kind!r}; allowed: {list(DEVICE_KINDS)}")
    import torch

    has_cuda = torch.cuda.is_available()
    if kind == "cpu":
        return torch.device("cpu")
    if has_cuda:
        return torch.device("cuda")
    if kind == "cuda" or gpu_required():
        raise GPURequiredError(
            f"a GPU was required (kind={kind!r}, REQUIRE_GPU={os.environ.get('REQUIRE_GPU', '')!r}) "
            f"but PyTorch {torch.__version__} sees no CUDA device "
            f"(built with CUDA {torch.version.cuda}); install a CUDA build of torch or "
            "unset REQUIRE_GPU"
        )
    return torch.device("cpu")


def tensorflow_device() -> str:
    """Return TensorFlow's device string, ``"/GPU:0"`` or ``"/CPU:0"`` (chapter 1, used from chapter 3).

    With ``REQUIRE_GPU=1`` a missing GPU raises :class:`GPURequiredError`.
    """
    tf = import_tensorflow()
    if tf.config.list_physical_devices("GPU"):
        return "/GPU:0"
    if gpu_required():
        raise GPURequiredError(
            f"REQUIRE_GPU is set but TensorFlow {tf.__version__} sees no GPU; install "
            "'tensorflow[and-cuda]' (not tensorflow-cpu) or unset REQUIRE_GPU"
        )
    return "/CPU:0"
