"""Upgrade canary: run every chapter against the newest release of every library the course pins.

``make canary`` (or ``python3 -m tools.canary``) builds a second environment, ``.venv-canary`` (``.venv`` is
never touched), installs the newest release of every top-level package in ``requirements.txt`` for this
Python, runs every notebook there with its checks, and writes ``artifacts/canary/report.md`` and
``report.json``: per package the pinned and the newest version; per notebook pass or fail and its time;
each failing check with its value and band; each error; each warning that the committed run did not print.
A failing chapter does not stop the others.

One package is held at its pin, and the report says so: PyPI's newer ``torch`` wheels pull several GB
of CUDA libraries, so the canary keeps the course's CPU build (a constraints file also stops any other
package from dragging it up). Only the standard library is needed to start it: the notebooks run
inside the canary environment, with its own Jupyter.

Options: ``--reuse`` keeps an existing ``.venv-canary`` (no reinstall); ``--notebooks 05 12`` runs only those
chapters; ``--timeout`` is the limit per notebook in seconds (default 900).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import venv
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANARY_VENV = ROOT / ".venv-canary"
REPORT_DIR = ROOT / "artifacts" / "canary"
HELD = {"torch": "newer torch wheels on PyPI pull several GB of CUDA libraries; the canary keeps the course's CPU build"}
PIN = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.\-]+)(?P<extras>\[[^\]]*\])?\s*(?P<spec>[=<>!~][^#;]*)?")

RUNNER = r'''
import json, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

path, out, timeout = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
committed = nbformat.read(path, as_version=4)
seen = {line for cell in committed.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
        if o.get("name") == "stderr" for line in "".join(o.get("text", "")).splitlines()}
nb = nbformat.read(path, as_version=4)
client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                        resources={"metadata": {"path": str(path.parent)}})
start, crashed = time.perf_counter(), None
try:
    client.execute()
except Exception as error:  # a kernel that died or a cell over the timeout
    crashed = f"{type(error).__name__}: {str(error)[:500]}"
seconds = time.perf_counter() - start
failing, errors, warnings = [], [], []
for index, cell in enumerate(nb.cells):
    for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
        if o.get("output_type") == "error":
            entry = {"cell": index, "error": o["ename"], "message": o["evalue"][:600]}
            (failing if o["ename"] == "MetricCheckError" else errors).append(entry)
        elif o.get("name") == "stderr":
            for line in "".join(o.get("text", "")).splitlines():
                if "warn" in line.lower() and line not in seen and line.strip() not in {w["line"] for w in warnings}:
                    warnings.append({"cell": index, "line": line.strip()[:400]})
status = "crashed" if crashed else ("fail" if failing or errors else "pass")
out.write_text(json.dumps({"notebook": path.name, "status": status, "seconds": round(seconds, 1), "crashed": crashed,
                           "failing_checks": failing, "errors": errors, "new_warnings": warnings}, indent=1))
'''


def pins(requirements: Path = ROOT / "requirements.txt") -> list[dict]:
    """The top-level packages of requirements.txt: name, extras and pinned spec, in file order."""
    found = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith(("#", "-")):
            match = PIN.match(line)
            if match:
                spec = (match["spec"] or "").strip()
                found.append({"name": match["name"], "extras": match["extras"] or "", "pinned": spec.removeprefix("==") if spec.startswith("==") else spec})
    return found


def canary_requirements(packages: list[dict]) -> tuple[str, str]:
    """The unpinned requirement list and the constraints file that holds the packages in HELD."""
    wanted = [f"{p['name']}{p['extras']}" + (f"=={p['pinned']}" if p["name"] in HELD else "") for p in packages]
    constraints = [f"{p['name']}=={p['pinned']}" for p in packages if p["name"] in HELD]
    return "\n".join(wanted) + "\n", "\n".join(constraints) + "\n"


def python_of(env: Path) -> Path:
    return env / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def build_environment(packages: list[dict], log: Path) -> tuple[bool, float]:
    """Create .venv-canary and install the newest releases; return (succeeded, seconds)."""
    start = time.perf_counter()
    venv.EnvBuilder(with_pip=True, clear=True).create(CANARY_VENV)
    wanted, constraints = canary_requirements(packages)
    (CANARY_VENV / "canary-requirements.txt").write_text(wanted, encoding="utf-8")
    (CANARY_VENV / "canary-constraints.txt").write_text(constraints, encoding="utf-8")
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run([str(python_of(CANARY_VENV)), "-m", "pip", "install", "--upgrade", "--upgrade-strategy", "eager",
                               "-r", str(CANARY_VENV / "canary-requirements.txt"), "-c", str(CANARY_VENV / "canary-constraints.txt")],
                              stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    return done.returncode == 0, time.perf_counter() - start


def installed_versions(python: Path) -> dict[str, str]:
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    return {entry["name"].lower().replace("_", "-"): entry["version"] for entry in json.loads(listed.stdout)}


def run_notebook(python: Path, notebook: Path, timeout: int) -> dict:
    out = REPORT_DIR / f"{notebook.stem}.json"
    out.unlink(missing_ok=True)
    environment = {"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "TQDM_DISABLE": "1",
                   "HF_HUB_DISABLE_PROGRESS_BARS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    environment["PATH"] = f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"  # the canary's own jupyter and python
    done = subprocess.run([str(python), "-c", RUNNER, str(notebook), str(out), str(timeout)], capture_output=True, text=True,
                          env={**os.environ, **environment}, cwd=ROOT, timeout=timeout + 300)
    if out.is_file():
        return json.loads(out.read_text(encoding="utf-8"))
    return {"notebook": notebook.name, "status": "crashed", "seconds": None, "crashed": (done.stderr or done.stdout)[-800:],
            "failing_checks": [], "errors": [], "new_warnings": []}


def write_report(report: dict) -> None:
    (REPORT_DIR / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    lines = [f"# Upgrade canary, {report['date']}", "",
             f"Environment: {'installed' if report['installed'] else 'FAILED to install (see install.log)'} in "
             f"{report['install_seconds']:.0f} s, Python {report['python']}. Notebooks: "
             + ", ".join(f"{sum(n['status'] == s for n in report['notebooks'])} {s}" for s in ("pass", "fail", "crashed")) + ".", "",
             "## Packages", "", "| package | pinned | newest installed | |", "|---|---|---|---|"]
    for p in report["packages"]:
        note = "held: " + HELD[p["name"]] if p["name"] in HELD else ("newer" if p["newest"] not in (p["pinned"], None) else "")
        lines.append(f"| {p['name']} | {p['pinned']} | {p['newest'] or 'not installed'} | {note} |")
    lines += ["", "## Notebooks", "", "| notebook | status | seconds | failing checks | errors | new warnings |", "|---|---|---|---|---|---|"]
    for n in report["notebooks"]:
        lines.append(f"| {n['notebook']} | {n['status']} | {n['seconds']} | {len(n['failing_checks'])} | {len(n['errors'])} | {len(n['new_warnings'])} |")
    for n in report["notebooks"]:
        if n["failing_checks"] or n["errors"] or n["new_warnings"] or n["crashed"]:
            lines += ["", f"### {n['notebook']}"]
            lines += [f"- crashed: {n['crashed']}"] if n["crashed"] else []
            lines += [f"- failing check (cell {c['cell']}): {c['message']}" for c in n["failing_checks"]]
            lines += [f"- error (cell {e['cell']}): {e['error']}: {e['message']}" for e in n["errors"]]
            lines += [f"- new warning (cell {w['cell']}): `{w['line']}`" for w in n["new_warnings"][:20]]
    (REPORT_DIR / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="keep an existing .venv-canary")
    parser.add_argument("--notebooks", nargs="*", default=None, help="chapter numbers to run (default: all)")
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    packages = pins()
    if args.reuse and python_of(CANARY_VENV).is_file():
        installed, install_seconds = True, 0.0
    else:
        installed, install_seconds = build_environment(packages, REPORT_DIR / "install.log")
    python = python_of(CANARY_VENV)
    versions = installed_versions(python) if python.is_file() else {}
    notebooks = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        notebooks = [n for n in notebooks if n.name[:2] in {f"{int(x):02d}" for x in args.notebooks}]
    results = []
    for notebook in notebooks if installed else []:
        results.append(run_notebook(python, notebook, args.timeout))
        print(f"{notebook.name}: {results[-1]['status']} ({results[-1]['seconds']} s)", flush=True)
    report = {"date": date.today().isoformat(), "python": sys.version.split()[0], "installed": installed,
              "install_seconds": install_seconds, "notebooks": results,
              "packages": [{"name": p["name"], "pinned": p["pinned"], "newest": versions.get(p["name"].lower().replace("_", "-"))}
                           for p in packages]}
    write_report(report)
    print(f"report: {REPORT_DIR / 'report.md'}")
    return 0 if installed and all(n["status"] == "pass" for n in results) else 1


if __name__ == "__main__":
    sys.exit(main())
