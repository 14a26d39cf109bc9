"""tools/find_chromium.py: the order in which a browser is found or installed, and its error messages.

Every browser, ``python`` (for Playwright's cache and download), ``apt-get`` and ``sudo`` here is a
small shell script in tmp_path: nothing is downloaded or installed, and the machine's own
browsers are hidden (PATH holds only tmp folders; the known locations point into tmp_path).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from utils.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "tools" / "find_chromium.py"


def load_module():
    spec = importlib.util.spec_from_file_location("find_chromium_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fc = load_module()


def write_executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def fake_browser(path: Path) -> Path:
    return write_executable(path, 'echo "Chromium 999.0 (fake)"')


def broken_browser(path: Path) -> Path:
    return write_executable(path, 'echo "chrome: error while loading shared libraries: libnss3.so" >&2; exit 127')


class Machine:
    """A fake machine in tmp_path: two PATH folders, a fake python, and a record of what ran."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.root = tmp_path
        self.bin = tmp_path / "bin"
        self.usr_bin = tmp_path / "usr-bin"
        self.bin.mkdir()
        self.usr_bin.mkdir()
        self.log = tmp_path / "ran.log"
        self.log.touch()
        self.cache = tmp_path / "ms-playwright" / "chromium-1" / "chrome-linux64" / "chrome"
        self.python = self.fake_python(install="fail")
        self.environ = {"PATH": f"{self.bin}{os.pathsep}{self.usr_bin}", "HOME": str(tmp_path)}
        app = tmp_path / "Applications" / "Google Chrome.app" / "Contents" / "MacOS" / "Google Chrome"
        monkeypatch.setattr(fc, "APP_LOCATIONS", (str(app),))
        monkeypatch.setattr(fc, "WRAPPERS", {})

    def ran(self) -> list[str]:
        return self.log.read_text().splitlines()

    def fake_python(self, install: str) -> str:
        """``python -c`` prints the cache path; ``python -m playwright install chromium`` does ``install``."""
        actions = {
            "fail": 'echo "Downloading Chrome for Testing from https://cdn.playwright.dev/x.zip"\n'
                    '  echo "Error: getaddrinfo ENOTFOUND cdn.playwright.dev"\n'
                    '  echo "    at GetAddrInfoReqWrap.onlookupall"\n  exit 1',
            "succeed": f'/bin/mkdir -p "{self.cache.parent}"\n'
                       f'  printf \'#!/bin/sh\\necho "Chrome for Testing 1.0"\\n\' > "{self.cache}"\n'
                       f'  /bin/chmod +x "{self.cache}"',
            "hang": '/bin/sleep 60 &\n  wait',  # like Node.js under python: a child that holds the output
        }
        return str(write_executable(self.root / "python", f"""
echo "python $*" >> "{self.log}"
if [ "$1" = "-c" ]; then echo "{self.cache}"; exit 0; fi
if [ "$1 $2 $3 $4" = "-m playwright install chromium" ]; then
  {actions[install]}
  exit 0
fi
exit 2"""))

    def fake_apt_get(self, outcome: str = "install") -> Path:
        """``apt-get``: ``install`` puts a Debian-like chromium wrapper and binary in place."""
        real = self.root / "usr-lib-chromium" / "chromium"
        install = {
            "install": f'/bin/mkdir -p "{real.parent}"\n'
                       f'    printf \'#!/bin/sh\\necho "Chromium 120.0 built on Debian"\\n\' > "{real}"\n'
                       f'    printf \'#!/bin/sh\\nexec "{real}" "$@"\\n\' > "{self.usr_bin}/chromium"\n'
                       f'    /bin/chmod +x "{real}" "{self.usr_bin}/chromium"',
            "missing": 'echo "E: Unable to locate package chromium"; exit 100',
        }[outcome]
        self.wrapper_and_real = (str(self.usr_bin / "chromium"), str(real))
        return write_executable(self.usr_bin / "apt-get", f"""
echo "apt-get $*" >> "{self.log}"
if [ "$1" = "install" ]; then
    {install}
fi
exit 0""")

    def resolve(self, **env: str) -> str:
        return fc.resolve({**self.environ, **env}, python=self.python)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    return Machine(tmp_path, monkeypatch)


# ---------------------------------------------------------------------------------------------
# CHROMIUM_SOURCES and CHROMIUM_INSTALL_TIMEOUT


def test_default_order_is_path_then_playwright_then_apt():
    assert fc.parse_sources(None) == ["path", "playwright", "apt"]
    assert fc.parse_sources(" path , apt ") == ["path", "apt"]


@pytest.mark.parametrize("value, expected", [
    ("path,firefox", "unknown source(s) 'firefox'"),
    ("", "CHROMIUM_SOURCES is empty"),
    (" , ", "CHROMIUM_SOURCES is empty"),
    ("apt,path,apt", "names apt more than once"),
])
def test_bad_sources_are_refused_with_the_allowed_values(value, expected):
    with pytest.raises(fc.NoChromium) as error:
        fc.parse_sources(value)
    assert expected in str(error.value)
    assert "path, playwright, apt" in str(error.value)


def test_bad_sources_stop_before_anything_is_tried(machine):
    fake_browser(machine.bin / "chromium")
    with pytest.raises(fc.NoChromium, match="unknown source"):
        machine.resolve(CHROMIUM_SOURCES="path,brew")


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_bad_install_timeout_is_refused(value):
    with pytest.raises(fc.NoChromium, match=f"CHROMIUM_INSTALL_TIMEOUT='{value}' is not a positive number"):
        fc.parse_timeout(value)
    assert fc.parse_timeout(None) == fc.DEFAULT_INSTALL_TIMEOUT
    assert fc.parse_timeout("90") == 90.0


# ---------------------------------------------------------------------------------------------
# PLAYWRIGHT_CHROMIUM


def test_playwright_chromium_wins_over_everything(machine):
    fake_browser(machine.bin / "chromium")
    chosen = fake_browser(machine.root / "my-chrome")
    assert machine.resolve(PLAYWRIGHT_CHROMIUM=str(chosen), CHROMIUM_SOURCES="path,playwright,apt") == str(chosen)
    assert machine.ran() == []  # neither Playwright nor apt-get was asked


def test_playwright_chromium_that_does_not_exist_fails_naming_it(machine):
    fake_browser(machine.bin / "chromium")  # there is a browser, but the user asked for another one
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(PLAYWRIGHT_CHROMIUM="/nowhere/chrome")
    message = str(error.value)
    assert "PLAYWRIGHT_CHROMIUM=/nowhere/chrome does not exist" in message
    assert "set it to the path of a Chrome or Chromium binary" in message and "or unset it" in message


def test_playwright_chromium_that_is_not_executable_fails(machine):
    plain = machine.root / "chrome.txt"
    plain.write_text("not a program")
    with pytest.raises(fc.NoChromium, match=r"PLAYWRIGHT_CHROMIUM=.*chrome\.txt is not an executable file"):
        machine.resolve(PLAYWRIGHT_CHROMIUM=str(plain))
    with pytest.raises(fc.NoChromium, match="is not an executable file"):
        machine.resolve(PLAYWRIGHT_CHROMIUM=str(machine.root))  # a folder


def test_playwright_chromium_that_does_not_run_fails_with_its_error(machine):
    broken = broken_browser(machine.root / "chrome")
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(PLAYWRIGHT_CHROMIUM=str(broken))
    assert "does not run" in str(error.value) and "libnss3.so" in str(error.value)


# ---------------------------------------------------------------------------------------------
# Step 1: a browser already on the machine


def test_names_are_tried_in_order_across_path(machine):
    fake_browser(machine.bin / "google-chrome")
    assert machine.resolve() == str(machine.bin / "google-chrome")
    later = fake_browser(machine.usr_bin / "chromium")  # a later PATH folder, but an earlier name
    assert machine.resolve() == str(later)
    assert machine.ran() == []


@pytest.mark.parametrize("name", fc.NAMES)
def test_every_browser_name_is_found_on_path(machine, name):
    fake_browser(machine.usr_bin / name)
    assert machine.resolve(CHROMIUM_SOURCES="path") == str(machine.usr_bin / name)


def test_debian_wrapper_script_is_replaced_by_the_real_binary(machine, monkeypatch):
    wrapper = write_executable(machine.usr_bin / "chromium", 'exec "$0.real" "$@"')
    real = fake_browser(machine.root / "usr-lib-chromium" / "chromium")
    monkeypatch.setattr(fc, "WRAPPERS", {str(wrapper): str(real)})
    assert machine.resolve() == str(real)
    real.unlink()  # no real binary: the wrapper is all there is (it does not run here, so step 1 moves on)
    assert fc.prefer_real_binary(str(wrapper)) == str(wrapper)


def test_a_binary_at_a_wrapper_path_is_kept(machine, monkeypatch):
    binary = machine.usr_bin / "chromium"
    binary.write_bytes(b"\x7fELF" + b"\0" * 60)  # not a script: nothing to unwrap
    binary.chmod(0o755)
    real = fake_browser(machine.root / "usr-lib-chromium" / "chromium")
    monkeypatch.setattr(fc, "WRAPPERS", {str(binary): str(real)})
    assert fc.prefer_real_binary(str(binary)) == str(binary)


def test_macos_application_is_found_when_path_has_none(machine):
    app = fake_browser(Path(fc.APP_LOCATIONS[0]))  # ".../Google Chrome.app/Contents/MacOS/Google Chrome"
    assert machine.resolve() == str(app)


def test_playwright_cache_is_used_when_nothing_else_is_installed(machine):
    fake_browser(machine.cache)
    assert machine.resolve() == str(machine.cache)
    assert [line for line in machine.ran() if line.startswith("python")] == [
        "python -c from playwright.sync_api import sync_playwright"]  # asked, nothing downloaded


def test_browser_on_path_comes_before_playwright_cache(machine):
    fake_browser(machine.cache)
    on_path = fake_browser(machine.bin / "chromium")
    assert machine.resolve() == str(on_path)
    assert machine.ran() == []  # the cache was not even asked


def test_broken_browser_is_skipped_and_reported(machine):
    broken_browser(machine.bin / "chromium")
    good = fake_browser(machine.bin / "chrome")
    assert machine.resolve() == str(good)
    good.unlink()
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(CHROMIUM_SOURCES="path")
    message = str(error.value)
    assert f"{machine.bin / 'chromium'} does not run" in message and "libnss3.so" in message


def test_nothing_on_the_machine_says_where_it_looked_and_what_to_do(machine):
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(CHROMIUM_SOURCES="path")
    message = str(error.value)
    assert "Tried, in order (CHROMIUM_SOURCES=path)" in message
    assert "no working Chrome or Chromium on PATH (chromium, chromium-browser, google-chrome" in message
    assert f"nothing in Playwright's cache ({machine.cache})" in message
    assert "set PLAYWRIGHT_CHROMIUM=/path/to/it" in message
    assert "python -m playwright install" not in " ".join(machine.ran())


def test_unknown_playwright_cache_is_reported(machine):
    machine.python = str(write_executable(machine.root / "python-without-playwright",
                                          "echo \"ModuleNotFoundError: No module named 'playwright'\" >&2; exit 1"))
    with pytest.raises(fc.NoChromium, match="Playwright's cache is unknown .*No module named 'playwright'"):
        machine.resolve(CHROMIUM_SOURCES="path")


# ---------------------------------------------------------------------------------------------
# Step 2: Playwright's download


def test_playwright_download_comes_after_path_and_before_apt(machine):
    machine.python = machine.fake_python(install="succeed")
    machine.fake_apt_get()
    assert machine.resolve() == str(machine.cache)
    assert [line.split()[:2] for line in machine.ran() if line.startswith(("python", "apt-get"))] == [
        ["python", "-c"], ["python", "-m"], ["python", "-c"]]  # cache, download, cache again; no apt-get


def test_failed_download_falls_through_to_apt(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 0)
    machine.fake_apt_get()
    assert machine.resolve() == str(machine.usr_bin / "chromium")  # no WRAPPERS entry: the script itself
    ran = [line for line in machine.ran() if line.startswith(("python -m", "apt-get"))]
    assert ran == ["python -m playwright install chromium", "apt-get update -qq", "apt-get install -y -qq chromium"]


def test_failed_download_says_why_and_what_to_do(machine, capsys):
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(CHROMIUM_SOURCES="playwright")
    printed = capsys.readouterr()
    assert printed.out == ""  # stdout is only ever the path
    assert "  | Error: getaddrinfo ENOTFOUND cdn.playwright.dev" in printed.err
    assert "GetAddrInfoReqWrap" not in printed.err  # stack frames are left out
    message = str(error.value)
    assert "  - playwright: " in message
    assert "-m playwright install chromium` failed (exit 1: Error: getaddrinfo ENOTFOUND cdn.playwright.dev)" in message
    assert "cdn.playwright.dev" in message and "PLAYWRIGHT_CHROMIUM=/path/to/it" in message


def test_hanging_download_is_stopped_at_the_time_limit(machine):
    machine.python = machine.fake_python(install="hang")
    started = time.monotonic()
    with pytest.raises(fc.NoChromium, match=r"did not finish in 1 s .*CHROMIUM_INSTALL_TIMEOUT"):
        machine.resolve(CHROMIUM_SOURCES="playwright", CHROMIUM_INSTALL_TIMEOUT="1")
    # the whole process group was killed: had the child kept the output open, this took 60 s
    assert time.monotonic() - started < 15


def test_ci_order_never_downloads(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 0)
    machine.fake_apt_get()
    machine.resolve(CHROMIUM_SOURCES="path,apt")
    assert not any("install" in line for line in machine.ran() if line.startswith("python"))
    assert "apt-get install -y -qq chromium" in machine.ran()


# ---------------------------------------------------------------------------------------------
# Step 3: apt-get


def test_apt_installs_debian_chromium_and_prefers_its_real_binary(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 0)
    machine.fake_apt_get()
    wrapper, real = machine.wrapper_and_real
    monkeypatch.setattr(fc, "WRAPPERS", {wrapper: real})
    assert machine.resolve(CHROMIUM_SOURCES="apt") == real


def test_apt_without_root_uses_sudo_n(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 1000)
    machine.fake_apt_get()
    write_executable(machine.bin / "sudo", f"""
echo "sudo $*" >> "{machine.log}"
[ "$1" = "-n" ] || exit 1
shift
[ "$1" = true ] && exit 0
shift  # DEBIAN_FRONTEND=noninteractive
exec "$@" """)
    assert machine.resolve(CHROMIUM_SOURCES="apt") == str(machine.usr_bin / "chromium")
    sudo_lines = [line for line in machine.ran() if line.startswith("sudo")]
    assert sudo_lines == ["sudo -n true",
                          f"sudo -n DEBIAN_FRONTEND=noninteractive {machine.usr_bin / 'apt-get'} update -qq",
                          f"sudo -n DEBIAN_FRONTEND=noninteractive {machine.usr_bin / 'apt-get'} install -y -qq chromium"]


def test_apt_when_sudo_wants_a_password(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 1000)
    machine.fake_apt_get()
    write_executable(machine.bin / "sudo", 'echo "sudo: a password is required" >&2; exit 1')
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(CHROMIUM_SOURCES="apt")
    message = str(error.value)
    assert "`sudo -n` cannot run without a password (sudo: a password is required)" in message
    assert "run `sudo apt-get install chromium` yourself" in message
    assert not any(line.startswith("apt-get") for line in machine.ran())


def test_apt_without_root_or_sudo(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 1000)
    machine.fake_apt_get()
    with pytest.raises(fc.NoChromium, match="not root and has no sudo: run `sudo apt-get install chromium`"):
        machine.resolve(CHROMIUM_SOURCES="apt")


def test_apt_on_a_machine_without_apt(machine):
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(CHROMIUM_SOURCES="apt")
    message = str(error.value)
    assert "apt-get not found (not a Debian or Ubuntu machine)" in message
    assert "brew install --cask google-chrome" in message and "PLAYWRIGHT_CHROMIUM=/path/to/it" in message


def test_apt_failure_shows_apt_gets_error(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 0)
    machine.fake_apt_get(outcome="missing")
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve(CHROMIUM_SOURCES="apt")
    assert "`apt-get install -y -qq chromium` failed (exit 100: E: Unable to locate package chromium)" in str(error.value)


def test_final_error_lists_every_step_in_order(machine, monkeypatch):
    monkeypatch.setattr(fc.os, "geteuid", lambda: 0)
    machine.fake_apt_get(outcome="missing")
    with pytest.raises(fc.NoChromium) as error:
        machine.resolve()
    lines = str(error.value).splitlines()
    assert lines[0] == ("no Chrome or Chromium for the browser tests. "
                        "Tried, in order (CHROMIUM_SOURCES=path,playwright,apt):")
    assert [line.split(":")[0] for line in lines[1:4]] == ["  - path", "  - playwright", "  - apt"]
    assert "ENOTFOUND" in lines[2] and "Unable to locate package chromium" in lines[3]
    assert lines[4].startswith("To fix it: install Google Chrome or Chromium and set PLAYWRIGHT_CHROMIUM=")


# ---------------------------------------------------------------------------------------------
# The script as `make test` runs it


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120,
                          env={"HOME": env.get("HOME", "/nonexistent"), **env})


def test_script_prints_only_the_path_on_stdout(machine):
    browser = fake_browser(machine.bin / "chromium")
    done = run_script({**machine.environ, "CHROMIUM_SOURCES": "path"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{browser}\n"
    assert f"using {browser}" in done.stderr


@pytest.mark.parametrize("env, expected", [
    ({"PLAYWRIGHT_CHROMIUM": "/nowhere/chrome"}, "ERROR: PLAYWRIGHT_CHROMIUM=/nowhere/chrome does not exist"),
    ({"CHROMIUM_SOURCES": "path,snap"}, "ERROR: CHROMIUM_SOURCES='path,snap' names unknown source(s) 'snap'"),
])
def test_script_fails_with_a_message_and_empty_stdout(machine, env, expected):
    done = run_script({**machine.environ, **env})
    assert done.returncode == 1
    assert done.stdout == ""
    assert expected in done.stderr
