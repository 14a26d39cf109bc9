"""Alt text for every figure of the book, drafted from the code that draws it and kept in the notebook.

myst-nb takes a figure's ``alt`` attribute from its code cell's metadata (``mystnb.image.alt``); without
it the website's ``<img>`` has the image's file path as its alt text, which a screen reader reads out as
noise. This tool drafts the missing ones from the cell's source: what kind of chart it is (line, scatter,
bar, histogram, image, error bars), its titles, its axis labels and its legend entries. A draft can be
edited by hand in the notebook's cell metadata; ``--write`` never overwrites an alt text that is there.

Usage: ``python -m tools.alt_text [--write] [NOTEBOOK ...]`` (default: every chapter). Without ``--write``
it lists the figure cells that lack alt text and exits 1 when there are any.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat

from tools.execute import toc_notebooks

KINDS = {"plot": "line chart", "semilogy": "line chart", "loglog": "line chart", "step": "step chart",
         "scatter": "scatter plot", "bar": "bar chart", "barh": "bar chart", "hist": "histogram",
         "imshow": "image", "matshow": "image", "pcolormesh": "colour map", "contourf": "contour map",
         "contour": "contour map", "errorbar": "chart with error bars", "boxplot": "box plot",
         "fill_between": "shaded band", "heatmap": "heat map", "pie": "pie chart", "stem": "stem plot"}
TITLE_CALLS, XLABEL_CALLS, YLABEL_CALLS = {"suptitle", "set_title", "title"}, {"set_xlabel", "xlabel"}, {"set_ylabel", "ylabel"}
MAX_LENGTH = 600


def _text(node: ast.AST) -> str | None:
    """A string literal, or an f-string with each placeholder shown as an ellipsis."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "…" for part in node.values)
    return None


def _add(found: list[str], text: str | None) -> None:
    text = " ".join((text or "").replace("\n", " ").split())
    if text and text not in found:
        found.append(text)


def describe(source: str) -> str:
    """A one-paragraph description of the figure(s) a cell draws, from its code; '' when it finds nothing."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return ""
    kinds, titles, xlabels, ylabels, series = [], [], [], [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in KINDS:
            _add(kinds, KINDS[name])
        first = _text(node.args[0]) if node.args else None
        if name in TITLE_CALLS:
            _add(titles, first)
        elif name in XLABEL_CALLS:
            _add(xlabels, first)
        elif name in YLABEL_CALLS:
            _add(ylabels, first)
        for keyword in node.keywords:
            value = _text(keyword.value)
            target = {"title": titles, "xlabel": xlabels, "ylabel": ylabels, "label": series}.get(keyword.arg)
            if target is not None:
                _add(target, value)
    if not (titles or xlabels or ylabels):
        return ""
    what = " and ".join(kinds) if kinds else "figure"
    parts = [f"{what[0].upper()}{what[1:]}" + (" titled " + "; ".join(f"“{t}”" for t in titles) if titles else "") + "."]
    if ylabels:
        parts.append("Vertical axis: " + "; ".join(ylabels) + ".")
    if xlabels:
        parts.append("Horizontal axis: " + "; ".join(xlabels) + ".")
    if series:
        parts.append("Legend: " + "; ".join(series) + ".")
    text = " ".join(parts)
    return text if len(text) <= MAX_LENGTH else text[:MAX_LENGTH - 1].rstrip() + "…"


def figure_cells(nb) -> list[tuple[int, object]]:
    """(index, cell) of every code cell with a PNG output."""
    return [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))]


def alt_of(cell) -> str:
    return str(cell.metadata.get("mystnb", {}).get("image", {}).get("alt", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--write", action="store_true", help="store drafts for the figures that lack alt text")
    args = parser.parse_args(argv)
    missing = []
    for path in args.notebooks or toc_notebooks():
        nb = nbformat.read(path, as_version=4)
        changed = False
        for index, cell in figure_cells(nb):
            if alt_of(cell):
                continue
            draft = describe(cell.source)
            if args.write and draft:
                cell.metadata.setdefault("mystnb", {}).setdefault("image", {})["alt"] = draft
                changed = True
            else:
                missing.append(f"{path.name} cell {index}: " + ("no title or axis label to draft from; write one by hand" if not draft else "no alt text"))
        if changed:
            nbformat.write(nb, path)
    for line in missing:
        print(line)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
