"""The reproducibility stamp printed by every setup cell."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from importlib import metadata

from utils.seeding import validate_frameworks

KEY_LIBRARIES: tuple[str, ...] = ("numpy", "pandas", "scikit-learn", "matplotlib")


def _installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _torch_entry() -> str:
    import torch

    from utils.device import torch_device

    device = torch_device()
    if device.type == "cuda":
        return f"{torch.__version__} on cuda ({torch.cuda.get_device_name(0)})"
    return f"{torch.__version__} on cpu"


def _tensorflow_entry() -> str:
    from utils.device import import_tensorflow, tensorflow_device

    device = tensorflow_device()
    tf = import_tensorflow()

    if device.startswith("/GPU"):
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        return f"{tf.__version__} on gpu ({details.get('device_name', 'GPU')})"
    return f"{tf.__version__} on cpu"


def environment_report(frameworks: Iterable[str] = (), seed: int | None = None) -> dict[str, str]:
    """Return Python, key library versions, frameworks' devices and the seed (chapter 1).

    Naming ``"torch"`` or ``"tensorflow"`` imports it to ask which device it will use;
    with ``REQUIRE_GPU=1`` that raises :class:`utils.GPURequiredError` when it sees no GPU.
    """
    names = validate_frameworks(frameworks)
    report = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores",
    }
    for distribution in KEY_LIBRARIES:
        report[distribution] = _installed_version(distribution)
    entries = {"torch": _torch_entry, "tensorflow": _tensorflow_entry}
    for name in names:
        report[name] = entries[name]()
    if seed is not None:
        report["seed"] = str(seed)
    return report


def format_stamp(report: dict[str, str]) -> str:
    """Format a report from :func:`environment_report` as an aligned block (chapter 1)."""
    if not report:
        raise ValueError("format_stamp needs a non-empty report from environment_report()")
    width = max(len(key) for key in report)
    lines = ["Reproducibility stamp"]
    lines += [f"  {key:<{width}}  {value}" for key, value in report.items()]
    return "\n".join(lines)
