"""Sphinx extension for the course website (loaded by ``_config.yml``, ``sphinx.local_extensions``).

- ``course-runtimes``: the measured runtimes table, generated from ``runtimes.csv``.
- ``course-versions``: the pinned library versions, generated from ``requirements.txt``.
- ``course-checks``: every ``utils.check_metric`` claim of the committed notebooks, with its band,
  its value in the committed run, the seed sweep it was set from (``tools/seed_sweeps/``), how far
  two runs with the same seed differed, the band's margin by the rule of ``utils.checks``, and the
  ``claim=`` of a deliberately weak band. The table sorts by any column (``_static/course-checks.js``).
- The vendored scripts in ``_static/vendor`` load only where Sphinx and MyST-NB ask for them.
- ``status.json`` (written at the end of every build into the site's root): per chapter, when it was last
  verified, its runtime, how many checks hold in its committed run, the library versions and the device
  its reproducibility stamp records, so that a tool can see at a glance what holds.
- Each page lists every script once (sphinx-thebe's set-up script was included twice).
- The remote "Open in Colab" badge image in each notebook's first cell is shown from a local
  copy (``_static/open-in-colab.svg``), so pages load no third-party images and work offline;
  the notebooks keep the remote badge, which is what GitHub and Colab display.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[1]
REMOTE_COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_COLAB_BADGE = "/_static/open-in-colab.svg"  # "/" = relative to the book's root folder
PIN = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.\-\[\]]+)\s*(?P<spec>(==|>=)[^#]*?)\s*(#.*)?$")


class LocalColabBadge(SphinxTransform):
    """Point the Colab badge image at the local copy before Sphinx collects the images."""

    default_priority = 100

    def apply(self, **kwargs) -> None:
        for image in self.document.findall(nodes.image):
            if image.get("uri") == REMOTE_COLAB_BADGE:
                image["uri"] = LOCAL_COLAB_BADGE
                image["candidates"] = {"*": LOCAL_COLAB_BADGE}


class MarkdownTableDirective(SphinxDirective):
    """A directive that renders a Markdown table built from a repository file."""

    source_file = ""

    def rows(self) -> list[list[str]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        path = ROOT / self.source_file
        self.env.note_dependency(str(path))  # rebuild the page when the file changes
        header, *body = self.rows()
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        container = nodes.container(classes=[f"course-{self.name}"])
        self.state.nested_parse(StringList(lines, source=str(path)), self.content_offset, container)
        return [container]


class RuntimesTable(MarkdownTableDirective):
    """Chapter, CPU seconds, GPU seconds (when measured) and the date each was measured."""

    source_file = "runtimes.csv"

    def rows(self) -> list[list[str]]:
        with (ROOT / self.source_file).open(encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
        rows = [["chapter", "CPU seconds", "GPU seconds", "last verified"]]
        for record in records:
            link = f"[{record['chapter']}](chapters/{record['notebook']})"
            gpu = record["gpu_seconds"] or "not measured yet"
            dates = sorted(d for d in (record["cpu_measured"], record["gpu_measured"]) if d)
            rows.append([link, record["cpu_seconds"], gpu, dates[-1] if dates else ""])
        total = sum(int(record["cpu_seconds"]) for record in records)
        rows.append(["**whole book, one after another**", f"**{total}**", "", ""])
        return rows


def installed_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


class VersionsTable(MarkdownTableDirective):
    """Every pinned library in requirements.txt with its version."""

    source_file = "requirements.txt"

    def rows(self) -> list[list[str]]:
        rows = [["library", "version"]]
        for line in (ROOT / self.source_file).read_text(encoding="utf-8").splitlines():
            match = PIN.match(line)
            if match:
                spec = match["spec"].strip()
                if spec.startswith("=="):
                    version = f"`{spec.removeprefix('==')}`"
                else:  # a range: also say which version built this site
                    version = f"`{spec}` (this build: `{installed_version(match['name'])}`)"
                rows.append([f"`{match['name']}`", version])
        return rows


VENDORED_PREFIX = "vendor/"  # _static/vendor: see its README.md


def load_vendored_scripts_only_where_needed(app: Sphinx, config) -> None:
    """Jupyter Book adds every .js file under _static to every page; the vendored MathJax and
    widget scripts must load only through ``mathjax_path`` and ``nb_ipywidgets_js``, once each."""
    config.html_js_files = [
        entry for entry in config.html_js_files
        if not (isinstance(entry, str) and entry.startswith(VENDORED_PREFIX))
    ]


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Sphinx-thebe registers its inline set-up script twice, which declares a ``const`` twice
    (an uncaught SyntaxError in every page's console); keep the first copy of each script."""
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # the second copy has filename "" where the first has None: compare what the tag will say
        key = (getattr(script, "filename", None) or "",
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: later handlers may still append to this list


# The checks page uses the course's own definitions (utils.checks is plain Python with no heavy imports).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from utils.checks import (  # noqa: E402
    CHECK_METADATA_KEY,
    SWEEPS_DIR,
    is_tolerance,
    looseness,
    read_sweep_file,
    short_number,
)
from utils.checks import _describe_band as describe_band  # noqa: E402

CHECKS_HEADER = ["where", "check", "band", "committed run", "seed sweep", "same seed twice", "margin", "claim"]


def notebook_checks(path: Path) -> list[dict]:
    """Every check in a committed notebook, in order: name, band, value, claim and the ``## `` section it is in."""
    import json

    nb = json.loads(path.read_text(encoding="utf-8"))
    title, section, found = "", "", []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            in_fence = False
            for line in source.splitlines():
                if line.lstrip().startswith("```"):
                    in_fence = not in_fence
                elif not in_fence and line.startswith("# ") and not title:
                    title = line[2:].strip()
                elif not in_fence and line.startswith("## "):
                    section = line[3:].strip()
            continue
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get(CHECK_METADATA_KEY)
            if record:
                found.append({"claim": None, **record, "chapter": title, "section": section})
    return found


def read_sweep(stem: str) -> dict:
    """The seed-sweep summary of one notebook (written by ``python -m tools.seed_sweep --record``)."""
    path = SWEEPS_DIR / f"{stem}.csv"
    return read_sweep_file(path) if path.is_file() else {}


def chapter_notebooks() -> list[Path]:
    return sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def margin_text(check: dict, record) -> str:
    """The loosest bound's distance beyond the sweep's range, in units of spread (see utils.checks)."""
    if is_tolerance(check["at_least"], check["at_most"], record):
        return "tolerance"
    units = max(looseness(check["at_least"], check["at_most"], record).values())
    return "∞" if units == float("inf") else f"{units:.1f}"


def rerun_text(record) -> str:
    if record.rerun is None:
        return "not run"
    return "identical" if record.rerun == 0 else f"differ by {short_number(record.rerun)}"


class ChecksTable(SphinxDirective):
    """One row per check of every chapter: where, check, band, committed value, sweep, rerun, margin, claim."""

    def run(self) -> list[nodes.Node]:
        from docutils.nodes import make_id

        rows, chapters, claims = [], 0, 0
        for path in chapter_notebooks():
            self.env.note_dependency(str(path))
            checks = notebook_checks(path)
            chapters += bool(checks)
            sweep_path = SWEEPS_DIR / f"{path.stem}.csv"
            if sweep_path.is_file():
                self.env.note_dependency(str(sweep_path))
            sweep = read_sweep(path.stem)
            page = f"chapters/{path.stem}.html"
            for check in checks:
                record = sweep.get(check["name"])
                number = check["chapter"].split(".")[0]
                where = check["section"] if check["section"].startswith(f"{number}.") else f"{number} · {check['section']}"
                claims += bool(check["claim"])
                rows.append([
                    (where, f"{page}#{make_id(check['section'])}"),
                    check["name"], describe_band(check["at_least"], check["at_most"]), short_number(check["value"]),
                    record.describe() if record else "not swept", rerun_text(record) if record else "",
                    margin_text(check, record) if record else "", check["claim"] or "",
                ])
        summary = nodes.paragraph(text=f"{len(rows)} checks in {chapters} chapters; {claims} state a deliberately weak claim.",
                                  classes=["course-checks-count"])
        return [summary, self.table(CHECKS_HEADER, rows)]

    @staticmethod
    def table(header: list[str], rows: list[list]) -> nodes.table:
        def cell(content) -> nodes.entry:
            paragraph = nodes.paragraph()
            if isinstance(content, tuple):  # (text, link)
                text, uri = content
                paragraph += nodes.reference(text, text, refuri=uri, internal=True)
            else:
                paragraph += nodes.Text(content)
            return nodes.entry("", paragraph)

        table = nodes.table(classes=["course-checks"])
        group = nodes.tgroup(cols=len(header))
        table += group
        group += [nodes.colspec(colwidth=1) for _ in header]
        head = nodes.thead()
        head += nodes.row("", *[cell(title) for title in header])
        body = nodes.tbody()
        body += [nodes.row("", *[cell(content) for content in row]) for row in rows]
        group += [head, body]
        return table


def reproducibility_stamp(path: Path) -> dict[str, str]:
    """The ``Reproducibility stamp`` a notebook's setup cell printed in its committed run, as a dict."""
    import json

    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", []))
            if text.startswith("Reproducibility stamp"):
                pairs = (line.strip().split(None, 1) for line in text.splitlines()[1:] if line.strip())
                return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {}


def chapter_status() -> dict:
    """What holds, chapter by chapter: the content of ``status.json``."""
    from utils.checks import in_band

    with (ROOT / "runtimes.csv").open(encoding="utf-8") as handle:
        runtimes = {record["notebook"]: record for record in csv.DictReader(handle)}
    chapters = []
    for path in chapter_notebooks():
        checks, runtime, stamp = notebook_checks(path), runtimes.get(path.name, {}), reproducibility_stamp(path)
        held = sum(in_band(check["value"], check["at_least"], check["at_most"]) for check in checks)
        devices = sorted({value.rsplit(" on ", 1)[1] for key, value in stamp.items() if key in ("torch", "tensorflow") and " on " in value})
        chapters.append({
            "chapter": runtime.get("chapter", path.stem), "notebook": f"chapters/{path.name}", "page": f"chapters/{path.stem}.html",
            "last_verified": max(filter(None, (runtime.get("cpu_measured"), runtime.get("gpu_measured"))), default=None),
            "cpu_seconds": int(runtime["cpu_seconds"]) if runtime.get("cpu_seconds") else None,
            "gpu_seconds": int(runtime["gpu_seconds"]) if runtime.get("gpu_seconds") else None,
            "checks": len(checks), "checks_passed": held, "all_checks_pass": held == len(checks),
            "device": ", ".join(devices) or "cpu", "versions": {k: v for k, v in stamp.items() if k not in ("platform", "seed")},
            "platform": stamp.get("platform"), "seed": int(stamp["seed"]) if stamp.get("seed", "").isdigit() else None})
    return {"chapters": chapters, "checks": sum(c["checks"] for c in chapters), "checks_passed": sum(c["checks_passed"] for c in chapters)}


def write_status(app: Sphinx, exception) -> None:
    if exception is None and app.builder.format == "html":
        import json

        (Path(app.outdir) / "status.json").write_text(json.dumps(chapter_status(), indent=1) + "\n", encoding="utf-8")


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("build-finished", write_status)
    app.connect("config-inited", load_vendored_scripts_only_where_needed)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)  # after the others add theirs
    app.add_transform(LocalColabBadge)
    app.add_directive("course-runtimes", RuntimesTable)
    app.add_directive("course-versions", VersionsTable)
    app.add_directive("course-checks", ChecksTable)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
