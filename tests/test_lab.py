"""`make lab`: starts for real (as root where the tests run as root), on the chapter list, news off."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tools.execute import toc_notebooks
from utils.paths import REPO_ROOT

NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"


def make_env() -> dict[str, str]:
    """The environment without the outer make's variables (make test runs pytest from make)."""
    return {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"}}


def dry_run_lab(user_id: int) -> str:
    result = subprocess.run(["make", "-n", "lab", f"USER_ID={user_id}"], cwd=REPO_ROOT, env=make_env(),
                            capture_output=True, text=True, check=True)
    return next(line for line in result.stdout.splitlines() if "jupyter lab" in line)


def test_make_lab_adds_allow_root_only_for_root():
    assert "--allow-root" in dry_run_lab(0)
    assert "--allow-root" not in dry_run_lab(1000)
    assert "--notebook-dir=chapters" in dry_run_lab(1000)


def test_the_shipped_lab_settings_turn_the_news_off():
    overrides = json.loads((REPO_ROOT / "jupyterlab" / "overrides.json").read_text(encoding="utf-8"))
    assert overrides[NOTIFICATION_PLUGIN] == {"fetchNews": "false", "checkForUpdates": False}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def running_lab(tmp_path_factory):
    """`make lab` started as the current user, on a free port, with its own runtime folders."""
    runtime = tmp_path_factory.mktemp("lab")
    port, token = free_port(), "course-test-token"
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    env = {**make_env(), "JUPYTER_RUNTIME_DIR": str(runtime / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(runtime / "workspaces"), "JUPYTERLAB_SETTINGS_DIR": str(runtime / "user-settings")}
    log = (runtime / "lab.log").open("w")
    process = subprocess.Popen(["make", "lab", f"LAB_ARGS={args}"], cwd=REPO_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                get_json(f"{base}/api/status?token={token}")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("make lab did not start:\n" + (runtime / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token, runtime / "lab.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_make_lab_starts_and_says_why_when_root(running_lab):
    _, _, log = running_lab
    text = log.read_text()
    if os.geteuid() == 0:
        assert "--allow-root" in text and "you are root" in text
    else:
        assert "--allow-root" not in text


def test_make_lab_opens_the_chapter_list(running_lab):
    base, token, _ = running_lab
    listing = get_json(f"{base}/api/contents/?token={token}")
    names = {item["name"] for item in listing["content"]}
    assert {path.name for path in toc_notebooks()} <= names


def test_make_lab_has_the_news_pop_up_off(running_lab):
    base, token, _ = running_lab
    setting = get_json(f"{base}/lab/api/settings/{NOTIFICATION_PLUGIN}?token={token}")
    # The server folds overrides into the schema's defaults; the browser composes them with the
    # (here empty) user settings, which is what the pop-up reads.
    defaults = {name: spec.get("default") for name, spec in setting["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    assert "fetchNews" not in setting["settings"]
