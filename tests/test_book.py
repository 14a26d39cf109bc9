"""The book builds warning-free, and its pages carry outputs, figures and launch links."""

from __future__ import annotations

import csv
import functools
import hashlib
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
import yaml

from tools.execute import toc_files, toc_notebooks
from utils.paths import REPO_ROOT

HTML = REPO_ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def built_book() -> Path:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    shutil.rmtree(REPO_ROOT / "_build", ignore_errors=True)  # Sphinx does not refresh changed _static files
    done = subprocess.run(
        [str(jupyter_book), "build", "-W", "-n", "--keep-going", str(REPO_ROOT)],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )
    assert done.returncode == 0, f"book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return HTML


def test_landing_page_and_runtimes_page(built_book):
    index = (built_book / "intro.html").read_text(encoding="utf-8")
    assert "Machine Learning, Executed" in index
    assert "chapters/01_introduction_to_machine_learning_and_python.html" in index
    runtimes = html.unescape((built_book / "runtimes.html").read_text(encoding="utf-8"))
    with (REPO_ROOT / "runtimes.csv").open(encoding="utf-8") as handle:
        for record in csv.DictReader(handle):  # the runtimes table is generated from runtimes.csv
            stem = record["notebook"].removesuffix(".ipynb")
            assert f'href="chapters/{stem}.html"' in runtimes and record["chapter"] in runtimes, stem
    assert "whole book, one after another" in runtimes
    status = json.loads((built_book / "status.json").read_text(encoding="utf-8"))  # machine-readable, linked here
    assert 'href="status.json"' in runtimes
    assert [c["notebook"] for c in status["chapters"]] == [p.relative_to(REPO_ROOT).as_posix() for p in sorted(toc_notebooks())]
    for chapter in status["chapters"]:
        assert chapter["all_checks_pass"] and chapter["checks"] >= 3 and chapter["checks_passed"] == chapter["checks"], chapter["notebook"]
        assert chapter["cpu_seconds"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", chapter["last_verified"]), chapter["notebook"]
        assert chapter["versions"]["python"].startswith("3.11") and chapter["device"], chapter["notebook"]
    assert status["checks"] == sum(c["checks"] for c in status["chapters"])
    assert '<span class="pre">torch</span>' in runtimes and '<span class="pre">2.13.0</span>' in runtimes
    guide = (built_book / "when_to_use_what.html").read_text(encoding="utf-8")
    assert "when_to_use_what.png" in guide and "chapters/04_pytorch_fundamentals.html" in guide
    assert (built_book / "index.html").is_file()


@pytest.mark.parametrize("notebook", toc_notebooks(), ids=lambda p: p.stem)
def test_chapter_pages_show_outputs_and_launch_links(built_book, notebook):
    slug = repository_slug()
    relative = notebook.relative_to(REPO_ROOT).as_posix()
    page = (built_book / relative).with_suffix(".html").read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]+src="\.\./_images/[^"]+\.png"', page)
    assert len(figures) >= 3, "the chapter's figures are missing from the page"
    for image in re.findall(r'src="\.\./(_images/[^"]+)"', page):
        assert (built_book / image).is_file(), image
    for tag in re.findall(r'<img[^>]+src="\.\./_images/[^"]+\.png"[^>]*>', page):  # what a screen reader reads out
        alt = html.unescape(re.search(r'alt="([^"]*)"', tag).group(1)) if 'alt="' in tag else ""
        assert len(alt) >= 25 and "_images" not in alt and not alt.endswith(".png"), f"figure without real alt text: {tag[:160]}"
    assert "cell_output" in page
    assert f"https://colab.research.google.com/github/{slug}/blob/main/{relative}" in page
    assert f"https://mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/{relative}" in page
    assert "Reproducibility stamp" in page


# ---------------------------------------------------------------------------------------------
# The website in a real browser: headless Chrome or Chromium (the one tools/find_chromium.py found
# or installed before `make test` cut the network) driven by Playwright, against the built site
# served on localhost.

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
SEARCH_TERM, SEARCH_PAGE = "Simpson", "chapters/01_introduction_to_machine_learning_and_python.html"


PAGES = [f"{page}.html" for page in toc_files()]  # every page of _toc.yml, relative to the site root
LANDING_PAGE = PAGES[0]


def repository_slug() -> str:
    """``owner/name`` of the repository the Colab and Binder links point at (from _config.yml)."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].removeprefix("https://github.com/")


def chromium_executable() -> str:
    """``PLAYWRIGHT_CHROMIUM`` (``make test`` sets it), else a Chrome or Chromium already installed.

    Found as tools/find_chromium.py finds one, without installing anything: the tests run offline.
    """
    chosen = os.environ.get("PLAYWRIGHT_CHROMIUM", "")
    if chosen:
        if not (Path(chosen).is_file() and os.access(chosen, os.X_OK)):
            pytest.fail(f"PLAYWRIGHT_CHROMIUM={chosen} is not an executable file: point it at a Chrome or "
                        "Chromium binary, or unset it (`make test` finds or installs one)")
        return chosen
    from tools.find_chromium import StepFailed, find_existing

    try:
        return find_existing(os.environ.get("PATH"), sys.executable)
    except StepFailed as failure:
        pytest.fail(f"no browser for the browser tests: {failure} (or run `make test`, which finds or "
                    "installs one before the tests start)")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def site(built_book):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(built_book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_executable(),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    """Load ``url``; return the page and every console error, page error and failed request."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} ({request.failure})"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)
    page.goto(url, wait_until="load")
    # lazy images load only near the viewport: ask for all of them, then wait for the network to settle
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(img => img.loading = 'eager')")
    page.wait_for_load_state("networkidle")
    page.wait_for_function("Array.from(document.images).every(img => img.complete)")
    return page, problems


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8", errors="replace")


@pytest.mark.parametrize("path", PAGES)
def test_page_in_a_real_browser(browser, site, path):
    page, problems = open_page(browser, site + path)
    try:
        assert not problems, f"{path}: " + "\n".join(problems)
        heading = page.locator("main h1").first
        assert heading.count() == 1, f"{path} has no <h1>"
        h1_text = heading.evaluate("h => h.firstChild.textContent").strip()
        assert h1_text and page.title().startswith(h1_text), (path, page.title(), h1_text)
        broken = page.evaluate("Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
        assert not broken, f"{path}: images that did not load: {broken}"

        links = set(page.eval_on_selector_all("a[href]", "anchors => anchors.map(a => a.href)"))
        internal = sorted(link for link in links if link.startswith(site))
        assert internal, f"{path}: no internal links at all"
        pages: dict[str, str] = {}
        for link in internal:
            target, _, fragment = link.partition("#")
            try:
                pages.setdefault(target, fetch(target))
            except urllib.error.HTTPError as error:
                pytest.fail(f"{path}: link {link} -> HTTP {error.code}")
            if fragment and target.endswith(".html"):
                assert re.search(rf'id="{re.escape(fragment)}"', pages[target]), f"{path}: no #{fragment} in {target}"

        if path.startswith("chapters/"):
            notebook = path.removesuffix(".html") + ".ipynb"
            slug = repository_slug()
            colab = [link for link in links if link.startswith("https://colab.research.google.com/")]
            assert len(colab) >= 1 and set(colab) == {f"https://colab.research.google.com/github/{slug}/blob/main/{notebook}"}, colab
            assert page.locator(f'a[href*="mybinder.org/v2/gh/{slug}/main?urlpath=lab/tree/{notebook}"]').count() >= 1
            assert site + f"_sources/{notebook}" in links, "the download button must offer the notebook"
            assert page.locator(".cell_output img").count() >= 3, f"{path}: figures missing"
            assert page.locator("main h2").count() >= 4, f"{path}: sections missing"
            solutions = page.locator("details.hide")
            assert solutions.count() >= 1, f"{path}: no collapsed cells"
            assert page.locator("details.hide[open]").count() == 0, f"{path}: a solution is expanded"
        if page.locator("main .math").count():  # LaTeX on the page: MathJax (vendored) must typeset it
            page.locator("mjx-container").first.wait_for(timeout=15_000)
        if page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count():
            page.locator(".jupyter-widgets").first.wait_for(timeout=15_000)  # saved widgets are drawn
        if path == LANDING_PAGE:  # the landing page tells a newcomer everything in one screen
            box = page.locator("main p", has_text="What you need").bounding_box()
            assert box and box["y"] + box["height"] <= 900, f"the landing page needs more than one screen: {box}"
            assert page.locator("main table tbody tr").count() == 12, "the landing page lists the twelve chapters"
        if path == LANDING_PAGE or path == "chapters/04_pytorch_fundamentals.html":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / f"{Path(path).stem}.png")
    finally:
        page.close()


def test_search_box_finds_a_term_from_chapter_1(browser, site):
    page, problems = open_page(browser, site + LANDING_PAGE)
    try:
        page.locator("button.search-button__button, .search-button-field").first.click()
        search_box = page.locator("#pst-search-dialog input[name=q], .bd-search input[name=q]").first
        search_box.fill(SEARCH_TERM)
        search_box.press("Enter")
        page.wait_for_url("**/search.html?q=*")
        result = page.locator(f'#search-results a[href*="{SEARCH_PAGE}"]')
        result.first.wait_for(timeout=15_000)
        assert not problems, "\n".join(problems)
        page.screenshot(path=SCREENSHOTS / "search.png")
    finally:
        page.close()


def test_vendored_browser_assets_match_their_recorded_checksums():
    vendor = REPO_ROOT / "_static" / "vendor"
    readme = (vendor / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", readme, flags=re.MULTILINE))
    own = {"README.md", "widgets-setup.js"}
    present = {p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file() and p.name not in own}
    assert set(recorded) == present, "update the table in _static/vendor/README.md"
    for name, digest in recorded.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, f"{name} changed"


def test_diagrams_are_what_tools_make_diagrams_draws(tmp_path):
    subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "make_diagrams.py"), str(tmp_path)], check=True)
    drawn = sorted(tmp_path.glob("*.png"))
    assert drawn, "tools/make_diagrams.py drew nothing"
    for png in drawn:
        assert png.read_bytes() == (REPO_ROOT / "images" / png.name).read_bytes(), (
            f"images/{png.name} is stale: run `python tools/make_diagrams.py`")


def test_checks_page_lists_every_check_of_every_chapter(built_book):
    from tests.test_notebooks import check_names_in_source

    page = html.unescape(re.sub(r"<[^>]+>", " ", (built_book / "checks.html").read_text(encoding="utf-8")))
    page = " ".join(page.split()).translate(str.maketrans("‘’“”", "''\"\""))  # undo Sphinx's smart quotes
    total = 0
    for notebook in toc_notebooks():
        names = check_names_in_source(nbformat.read(notebook, as_version=4))
        total += len(names)
        for name in names:
            assert " ".join(name.split()) in page, f"the checks page does not list {notebook.name}: {name!r}"
    assert re.search(rf"\b{total} checks in \d+ chapters; \d+ state a deliberately weak claim\.", page), (
        f"the checks page should count {total} checks")


def test_checks_page_sorts_by_margin_in_a_real_browser(browser, site):
    """The Claims page shows the evidence columns, and a click on "margin" sorts the loosest bands first."""
    page, problems = open_page(browser, site + "checks.html")
    try:
        table = page.locator("table.course-checks")
        headers = [text.strip() for text in table.locator("thead th").all_inner_texts()]
        assert [h.rstrip(" ⇅▲▼") for h in headers] == ["where", "check", "band", "committed run", "seed sweep",
                                                        "same seed twice", "margin", "claim"], headers
        margin = table.locator("thead th", has_text="margin")
        margin.locator("button").click()
        assert margin.get_attribute("aria-sort") == "ascending"
        margin.locator("button").click()
        assert margin.get_attribute("aria-sort") == "descending"
        column = headers.index(next(h for h in headers if h.startswith("margin"))) + 1
        cells = table.locator(f"tbody tr td:nth-child({column})").all_inner_texts()
        keys = [float("inf") if c.strip() == "∞" else float("-inf") if c.strip() == "tolerance" else float(c) for c in cells]
        assert keys == sorted(keys, reverse=True), "sorting by margin did not put the loosest bands first"
        first = table.locator("tbody tr").first.locator("td").all_inner_texts()
        assert re.fullmatch(r"\d+ seeds?: .+", first[4].strip()), first
        assert not problems, "\n".join(problems)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "checks.png")
    finally:
        page.close()


# ---------------------------------------------------------------------------------------------
# Accessibility: axe-core (shipped inside axe-playwright-python) audits the main kinds of page, in
# the theme's light and dark modes; a serious or critical violation fails the test and names it.
AXE_PAGES = [LANDING_PAGE, "chapters/01_introduction_to_machine_learning_and_python.html", "checks.html", "runtimes.html"]


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} elements): {v['help']}; e.g. {v['nodes'][0]['target']}: "
            f"{v['nodes'][0].get('failureSummary', '')[:200]}" for v in found if v["impact"] in impacts]


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("path", AXE_PAGES)
def test_accessibility_audit_finds_nothing_serious(browser, site, path, mode):
    page, _ = open_page(browser, site + path)
    try:
        page.evaluate("mode => { document.documentElement.dataset.theme = mode; document.documentElement.dataset.mode = mode; }", mode)
        page.wait_for_timeout(300)  # the theme's colour transitions
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"axe-{mode}-{Path(path).stem}.png", full_page=False)
        problems = axe_violations(page)
        assert not problems, f"{path} ({mode} mode):\n" + "\n".join(problems)
    finally:
        page.close()
