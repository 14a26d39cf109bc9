"""Find (or get) a Chrome or Chromium for the browser tests; print its path on stdout.

``make test`` runs this before the tests cut the network, and hands the path to pytest as
``PLAYWRIGHT_CHROMIUM``. Run it with the course's Python (``.venv/bin/python
tools/find_chromium.py``): only the path goes to stdout; progress and errors go to stderr; the
exit status is non-zero when no browser could be found or installed.

Order:

0. ``PLAYWRIGHT_CHROMIUM``, when set, is used as it is (it must be an executable file that runs);
1. ``path``: a browser already on the machine: on PATH (chromium, chromium-browser,
   google-chrome, google-chrome-stable, chrome), in the usual application folders (macOS), or
   one that Playwright downloaded earlier (its cache);
2. ``playwright``: ``python -m playwright install chromium`` (needs cdn.playwright.dev), with a
   time limit;
3. ``apt``: ``apt-get install chromium`` as root or with ``sudo -n`` (Debian, Ubuntu).

``CHROMIUM_SOURCES`` (comma-separated, default ``path,playwright,apt``) picks the steps 1-3 and
their order; CI uses ``path,apt``. ``CHROMIUM_INSTALL_TIMEOUT`` (seconds, default 600) limits
each download or apt-get command.

Only the standard library is imported; Playwright is asked about its cache in a subprocess.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path

SOURCES = ("path", "playwright", "apt")
DEFAULT_SOURCES = "path,playwright,apt"
DEFAULT_INSTALL_TIMEOUT = 600.0
PROBE_TIMEOUT = 30.0

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
APP_LOCATIONS = tuple(
    str(root / app)
    for root in (Path("/Applications"), Path.home() / "Applications")
    for app in ("Google Chrome.app/Contents/MacOS/Google Chrome", "Chromium.app/Contents/MacOS/Chromium")
) + ("/usr/lib/chromium/chromium",)  # Debian's binary, also when /usr/bin is not on PATH
# Launcher shell scripts and the binary each one starts. Playwright talks to the browser over
# pipes and passes its own flags; it should start the binary, not a script that adds flags
# (Debian's /usr/bin/chromium reads /etc/chromium.d) and sits in between.
WRAPPERS = {
    "/usr/bin/chromium": "/usr/lib/chromium/chromium",  # Debian
    "/usr/bin/chromium-browser": "/usr/lib64/chromium-browser/chromium-browser",  # Fedora
    "/opt/google/chrome/google-chrome": "/opt/google/chrome/chrome",  # Google's .deb and .rpm
}
APT_PACKAGE = "chromium"
WHERE = "/Applications or ~/Applications (Google Chrome.app, Chromium.app), /usr/lib/chromium"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

FIX = "install Google Chrome or Chromium and set PLAYWRIGHT_CHROMIUM=/path/to/it"
CACHE_CODE = (
    "from playwright.sync_api import sync_playwright\n"
    "with sync_playwright() as p:\n"
    "    print(p.chromium.executable_path)\n"
)


class StepFailed(Exception):
    """One source gave no browser; the message says why and what to do."""


class NoChromium(Exception):
    """No browser at all; the message lists every step tried."""


def log(message: str) -> None:
    print(f"find_chromium: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Settings


def parse_sources(value: str | None) -> list[str]:
    """``CHROMIUM_SOURCES`` as a list of steps; unset means the default order."""
    if value is None:
        value = DEFAULT_SOURCES
    steps = [part.strip() for part in value.split(",")]
    allowed = ", ".join(SOURCES)
    if not any(steps):
        raise NoChromium(f"CHROMIUM_SOURCES is empty: set it to a comma-separated list of {allowed} "
                         f"(default {DEFAULT_SOURCES}), or unset it")
    unknown = [step for step in steps if step not in SOURCES]
    if unknown:
        raise NoChromium(f"CHROMIUM_SOURCES={value!r} names unknown source(s) {', '.join(map(repr, unknown))}: "
                         f"use a comma-separated list of {allowed} (default {DEFAULT_SOURCES})")
    repeated = sorted({step for step in steps if steps.count(step) > 1})
    if repeated:
        raise NoChromium(f"CHROMIUM_SOURCES={value!r} names {', '.join(repeated)} more than once: "
                         f"give each of {allowed} at most once")
    return steps


def parse_timeout(value: str | None) -> float:
    if value is None or not value.strip():
        return DEFAULT_INSTALL_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise NoChromium(f"CHROMIUM_INSTALL_TIMEOUT={value!r} is not a positive number of seconds "
                         f"(default {DEFAULT_INSTALL_TIMEOUT:.0f})")
    return seconds


# ---------------------------------------------------------------------------------------------
# Running commands


def run_command(command: list[str], timeout: float, env: dict[str, str] | None = None,
                echo: bool = False) -> tuple[int | None, str]:
    """Run ``command`` with stdin closed; return (exit status or None on timeout, last output lines).

    The command runs in its own process group, and the whole group is killed at the time limit
    (``python -m playwright`` runs Node.js as a child). With ``echo`` its output is copied to stderr
    as it comes, never to stdout.
    """
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    except OSError as error:
        return 127, f"cannot run {command[0]}: {error}"
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    tail: deque[str] = deque(maxlen=40)
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = ANSI.sub("", raw.decode("utf-8", "replace")).rstrip()
            tail.append(line)
            if echo and line and not line[0].isspace() and line != "}":  # no stack traces
                print(f"  | {line}", file=sys.stderr, flush=True)
        process.wait()
    finally:
        timer.cancel()
    return (None if timed_out.is_set() else process.returncode), "\n".join(tail)


def first_error(output: str, markers: tuple[str, ...] = ("Error:", "E:")) -> str:
    """The most telling line of a failed command's output: its first error line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(markers):
            return line
    return lines[-1] if lines else "no output"


def probe(executable: str) -> str | None:
    """None when ``executable --version`` runs; otherwise why it does not."""
    status, output = run_command([executable, "--version"], timeout=PROBE_TIMEOUT)
    if status == 0:
        return None
    if status is None:
        return f"`{executable} --version` did not finish in {PROBE_TIMEOUT:.0f} s"
    return f"`{executable} --version` failed (exit {status}: {first_error(output)})"


# ---------------------------------------------------------------------------------------------
# Step 0 and 1: a browser already on the machine


def is_executable_file(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def is_script(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"#!"
    except OSError:
        return False


def prefer_real_binary(path: str) -> str:
    """The binary a known launcher script starts (e.g. Debian's /usr/lib/chromium/chromium), else ``path``."""
    real = os.path.realpath(path)
    target = WRAPPERS.get(real) or WRAPPERS.get(os.path.abspath(path))
    if target and is_script(real) and is_executable_file(target):
        return target
    return path


def from_environment(environ: Mapping[str, str]) -> str | None:
    """``PLAYWRIGHT_CHROMIUM`` when set; it must be an executable file that runs."""
    value = environ.get("PLAYWRIGHT_CHROMIUM", "")
    if not value:
        return None
    if not is_executable_file(value):
        what = "does not exist" if not os.path.exists(value) else "is not an executable file"
        raise NoChromium(
            f"PLAYWRIGHT_CHROMIUM={value} {what}: set it to the path of a Chrome or Chromium binary "
            f"(e.g. /usr/lib/chromium/chromium or '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome'), "
            f"or unset it to let tools/find_chromium.py look for one")
    problem = probe(value)
    if problem:
        raise NoChromium(f"PLAYWRIGHT_CHROMIUM={value} does not run: {problem}. Point it at a working Chrome "
                         f"or Chromium, or unset it to let tools/find_chromium.py look for one")
    return value


def candidates_on_path(path_env: str | None = None) -> list[str]:
    """Every browser name found on PATH, wrappers replaced by the binary they start."""
    found = []
    for name in NAMES:
        hit = shutil.which(name, path=path_env)
        if hit:
            found.append(prefer_real_binary(hit))
    return found


def candidates_in_app_locations(locations: tuple[str, ...] | None = None) -> list[str]:
    return [place for place in (APP_LOCATIONS if locations is None else locations) if is_executable_file(place)]


def playwright_cache(python: str = sys.executable, timeout: float = 60.0) -> tuple[str | None, str]:
    """(path of Playwright's own Chromium, or None; where it would be, or why that is unknown).

    The path comes from ``playwright.chromium.executable_path``, asked in a subprocess of
    ``python`` so that this script needs only the standard library, works inside a running
    Playwright session, and cannot hang.
    """
    status, output = run_command([python, "-c", CACHE_CODE], timeout=timeout)
    if status != 0:
        why = "timed out" if status is None else first_error(output, ("ModuleNotFoundError", "Error"))
        return None, f"Playwright's cache is unknown ({python} could not tell: {why})"
    lines = output.strip().splitlines()
    path = lines[-1].strip() if lines else ""
    if path and is_executable_file(path):
        return path, path
    return None, f"nothing in Playwright's cache ({path or 'no path given'})"


def find_existing(path_env: str | None = None, python: str = sys.executable) -> str:
    """Step 1: a working browser already on the machine, or StepFailed saying where it looked."""
    rejected: list[str] = []
    seen: set[str] = set()
    for candidate in candidates_on_path(path_env) + candidates_in_app_locations():
        if candidate in seen:
            continue
        seen.add(candidate)
        problem = probe(candidate)
        if problem is None:
            return candidate
        rejected.append(f"{candidate} does not run ({problem})")
    cached, where = playwright_cache(python)
    if cached:
        problem = probe(cached)
        if problem is None:
            return cached
        rejected.append(f"Playwright's {cached} does not run ({problem}; on Linux, "
                        f"`sudo {python} -m playwright install-deps chromium` installs its libraries)")
    else:
        rejected.append(where)
    raise StepFailed(f"no working Chrome or Chromium on PATH ({', '.join(NAMES)}) or in {WHERE}; "
                     + "; ".join(rejected) + f". To use one: {FIX}")


# ---------------------------------------------------------------------------------------------
# Step 2: Playwright's download


def install_with_playwright(python: str = sys.executable, timeout: float = DEFAULT_INSTALL_TIMEOUT,
                            environ: Mapping[str, str] | None = None) -> str:
    command = [python, "-m", "playwright", "install", "chromium"]
    log(f"downloading Playwright's Chromium: {' '.join(command)} (time limit {timeout:.0f} s)")
    env = dict(os.environ if environ is None else environ)
    env.setdefault("PLAYWRIGHT_DOWNLOAD_CONNECTION_TIMEOUT", "30000")  # ms without data before a mirror is dropped
    status, output = run_command(command, timeout=timeout, env=env, echo=True)
    shown = f"`{python} -m playwright install chromium`"
    if status is None:
        raise StepFailed(f"{shown} did not finish in {timeout:.0f} s (a slow or blocked network); "
                         f"raise CHROMIUM_INSTALL_TIMEOUT, or {FIX}")
    if status != 0:
        raise StepFailed(f"{shown} failed (exit {status}: {first_error(output)}); it needs to reach "
                         f"cdn.playwright.dev. Otherwise {FIX}")
    cached, where = playwright_cache(python)
    if not cached:
        raise StepFailed(f"{shown} succeeded but left no browser: {where}. {FIX}")
    problem = probe(cached)
    if problem:
        raise StepFailed(f"Playwright downloaded {cached} but it does not run ({problem}); on Linux, "
                         f"`sudo {python} -m playwright install-deps chromium` installs its libraries, or {FIX}")
    return cached


# ---------------------------------------------------------------------------------------------
# Step 3: Debian's package


def install_with_apt(timeout: float = DEFAULT_INSTALL_TIMEOUT, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    path_env = environ.get("PATH", os.defpath)
    by_hand = f"run `sudo apt-get install {APT_PACKAGE}` yourself and try again, or {FIX}"
    apt_get = shutil.which("apt-get", path=path_env)
    if not apt_get:
        raise StepFailed("apt-get not found (not a Debian or Ubuntu machine): install Chrome or Chromium "
                         "with your package manager (e.g. `sudo dnf install chromium`, "
                         "`brew install --cask google-chrome`) and set PLAYWRIGHT_CHROMIUM=/path/to/it")
    env = dict(environ, DEBIAN_FRONTEND="noninteractive")
    if os.geteuid() == 0:
        prefix: list[str] = []
    else:
        sudo = shutil.which("sudo", path=path_env)
        if not sudo:
            raise StepFailed(f"apt-get needs root, and this user is not root and has no sudo: {by_hand}")
        status, output = run_command([sudo, "-n", "true"], timeout=30, env=dict(environ))
        if status != 0:
            raise StepFailed(f"`sudo -n` cannot run without a password ({first_error(output)}): {by_hand}")
        prefix = [sudo, "-n", "DEBIAN_FRONTEND=noninteractive"]
    log(f"installing Debian's {APT_PACKAGE} with apt-get (time limit {timeout:.0f} s per command)")
    for command in ([apt_get, "update", "-qq"], [apt_get, "install", "-y", "-qq", APT_PACKAGE]):
        status, output = run_command(prefix + command, timeout=timeout, env=env)
        shown = ("sudo -n " if prefix else "") + "apt-get " + " ".join(command[1:])
        if status is None:
            raise StepFailed(f"`{shown}` did not finish in {timeout:.0f} s: raise CHROMIUM_INSTALL_TIMEOUT, or {by_hand}")
        if status != 0:
            raise StepFailed(f"`{shown}` failed (exit {status}: {first_error(output)}): {by_hand}")
    for candidate in candidates_on_path(path_env) + candidates_in_app_locations():
        if probe(candidate) is None:
            return candidate
    raise StepFailed(f"apt-get installed {APT_PACKAGE}, but no working browser appeared on PATH or in "
                     f"{WHERE}: {FIX}")


# ---------------------------------------------------------------------------------------------


def resolve(environ: Mapping[str, str] | None = None, python: str = sys.executable) -> str:
    """The browser's path, trying the steps of ``CHROMIUM_SOURCES`` in order; NoChromium if none works."""
    environ = os.environ if environ is None else environ
    sources = parse_sources(environ.get("CHROMIUM_SOURCES"))
    timeout = parse_timeout(environ.get("CHROMIUM_INSTALL_TIMEOUT"))
    chosen = from_environment(environ)
    if chosen:
        log(f"using PLAYWRIGHT_CHROMIUM={chosen}")
        return chosen
    path_env = environ.get("PATH", os.defpath)
    steps = {
        "path": lambda: find_existing(path_env, python),
        "playwright": lambda: install_with_playwright(python, timeout, environ),
        "apt": lambda: install_with_apt(timeout, environ),
    }
    failures = []
    for source in sources:
        try:
            found = steps[source]()
        except StepFailed as failure:
            log(f"{source}: {failure}")
            failures.append(f"  - {source}: {failure}")
            continue
        log(f"using {found} (from step '{source}')")
        return found
    raise NoChromium(
        f"no Chrome or Chromium for the browser tests. Tried, in order (CHROMIUM_SOURCES={','.join(sources)}):\n"
        + "\n".join(failures)
        + f"\nTo fix it: {FIX} (e.g. `PLAYWRIGHT_CHROMIUM=/path/to/chrome make test`).")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv:
        print(__doc__, file=sys.stderr)
        return 0 if argv[0] in ("-h", "--help") else 2
    try:
        path = resolve()
    except NoChromium as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
