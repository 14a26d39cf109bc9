"""``make execute``: re-run notebooks top to bottom, in place, and record their wall times.

Usage: ``python -m tools.execute [chapters/NN_name.ipynb ...]`` (default: every notebook in
``_toc.yml``). Times go to ``runtimes.csv`` in the column of this machine's kind: ``gpu`` when
``REQUIRE_GPU=1``, else ``cpu``. The book renders that file as a table.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import sys
import time
from pathlib import Path

from utils.device import gpu_required
from utils.paths import REPO_ROOT

RUNTIMES_CSV = REPO_ROOT / "runtimes.csv"
RUNTIME_COLUMNS = ("chapter", "notebook", "cpu_seconds", "cpu_measured", "gpu_seconds", "gpu_measured")
DEVICE_KINDS = ("cpu", "gpu")


def toc_files(toc: Path | None = None) -> list[str]:
    """Return every page of ``_toc.yml`` (the root first), without suffix, in book order (chapter 1)."""
    import yaml

    toc = REPO_ROOT / "_toc.yml" if toc is None else toc
    data = yaml.safe_load(toc.read_text(encoding="utf-8"))
    found: list[str] = [data["root"]] if isinstance(data.get("root"), str) else []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({key: value for key, value in data.items() if key != "root"})
    return found


def toc_notebooks(toc: Path | None = None) -> list[Path]:
    """Return the notebooks listed in ``_toc.yml``, in book order (chapter 1)."""
    return [REPO_ROOT / f"{file}.ipynb" for file in toc_files(toc) if (REPO_ROOT / f"{file}.ipynb").is_file()]


def notebook_title(nb: dict) -> str:
    """Return the text of the notebook's H1 heading, e.g. ``1. Introduction ...``."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^# (.+)$", "".join(cell["source"]), flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    raise ValueError("notebook has no '# Title' heading")


def record_runtime(
    csv_path: Path, chapter: str, notebook: str, seconds: float, kind: str, date: dt.date
) -> None:
    """Set one notebook's time for ``kind`` ("cpu" or "gpu") in the runtimes file, keeping the rest."""
    if kind not in DEVICE_KINDS:
        raise ValueError(f"unknown device kind {kind!r}; allowed: {list(DEVICE_KINDS)}")
    if seconds < 0:
        raise ValueError(f"a runtime cannot be negative, got {seconds}")
    rows: dict[str, dict[str, str]] = {}
    if csv_path.exists():
        with csv_path.open(newline="", encoding="utf-8") as handle:
            rows = {row["notebook"]: row for row in csv.DictReader(handle)}
    row = rows.setdefault(notebook, dict.fromkeys(RUNTIME_COLUMNS, ""))
    row.update({"chapter": chapter, "notebook": notebook})
    row[f"{kind}_seconds"] = f"{seconds:.0f}"
    row[f"{kind}_measured"] = date.isoformat()
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RUNTIME_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows.values(), key=lambda r: r["notebook"]))


def run_notebook(nb, folder: Path, timeout: int = 600) -> float:
    """Run ``nb`` top to bottom in a fresh kernel whose cwd is ``folder``; return wall seconds."""
    import tempfile

    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    # The kernel talks over Unix sockets in a private folder, not TCP ports: a port picked for the
    # kernel can be taken by another process before the kernel binds it, and then a reply is lost
    # and the run hangs (seen in long seed sweeps while a browser test ran beside them).
    with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(
            nb,
            km=manager,
            timeout=timeout,
            resources={"metadata": {"path": str(folder)}},
            record_timing=False,
        )
        start = time.perf_counter()
        try:
            client.execute()
        finally:  # nbclient shuts down only kernels it started itself; this one is ours
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
        return time.perf_counter() - start


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def drop_unshown_widget_state(nb) -> bool:
    """Remove saved widget state that no output displays; return True if something was removed.

    A library can open widget models without showing them (transformers' progress bars with
    ``HF_HUB_DISABLE_PROGRESS_BARS=1``), and nbclient then saves their state in the notebook's
    metadata. The book would load that state and wait for widgets that never appear.
    """
    widgets = nb.get("metadata", {}).get("widgets")
    if widgets is None:
        return False
    shown = any(
        WIDGET_VIEW in output.get("data", {})
        for cell in nb.get("cells", [])
        for output in cell.get("outputs", [])
    )
    if shown:
        return False
    del nb["metadata"]["widgets"]
    return True


def execute_notebook(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` in place in a fresh kernel (cwd = its folder); return wall seconds."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    seconds = run_notebook(nb, path.parent, timeout)
    drop_unshown_widget_state(nb)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    paths = [Path(arg).resolve() for arg in argv] or toc_notebooks()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    kind = "gpu" if gpu_required() else "cpu"
    for path in paths:
        print(f"executing {path.relative_to(REPO_ROOT)} ...", flush=True)
        seconds = execute_notebook(path)
        import nbformat

        title = notebook_title(nbformat.read(path, as_version=4))
        record_runtime(RUNTIMES_CSV, title, path.name, seconds, kind, dt.date.today())
        print(f"  {seconds:.1f} s on {kind}, recorded in runtimes.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
