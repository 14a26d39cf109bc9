"""Run a web service (an ASGI app served by uvicorn) as its own process on this machine."""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_][A-Za-z0-9_]*):(?P<attribute>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass
class Service:
    """A running service: its base URL, its process and its log file; ``stop()`` ends it."""

    url: str
    process: subprocess.Popen
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def stop(self, timeout: float = 10.0) -> int:
        """Terminate the process, wait for it, close the log; return its exit code."""
        atexit.unregister(self.stop)  # stopped now: nothing left for the exit hook to do
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._log.close()
        return self.process.returncode

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _end_with_parent() -> None:
    """In the child, before uvicorn starts (Linux): ask for SIGTERM when the parent process dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: atexit (below) still covers a normal exit
        pass


def free_port() -> int:
    """Ask the operating system for a TCP port that is free on 127.0.0.1 (chapter 2)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _last_lines(path: Path, count: int = 15) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    return "\n".join(lines[-count:]) or "(the log is empty)"


def start_service(
    app: str,
    app_dir: Path | str,
    *,
    log_path: Path | str | None = None,
    health_path: str = "/health",
    timeout: float = 30.0,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Service:
    """Start ``uvicorn app`` from ``app_dir`` on a free localhost port; return once ``health_path`` answers 200 (chapter 2, used in chapter 11).

    ``app`` is ``"module:attribute"``, e.g. ``"penguin_api:app"`` for ``app_dir/penguin_api.py``.
    ``env`` adds environment variables (the service's settings) to the server's environment only.
    The server's output goes to ``log_path`` (default ``app_dir/server.log``). The server never
    outlives its caller: it is stopped when the calling process exits, and on Linux it is also
    sent SIGTERM if the caller is killed (a notebook whose kernel dies mid-chapter). Raises
    :class:`RuntimeError`, with the log's last lines, when the process exits or does not answer
    within ``timeout`` seconds.
    """
    match = APP_SPEC.match(app) if isinstance(app, str) else None
    if not match:
        raise ValueError(f"app must look like 'module:attribute' (e.g. 'penguin_api:app'), got {app!r}")
    app_dir = Path(app_dir)
    module_file = app_dir / f"{match['module']}.py"
    if not module_file.is_file():
        raise FileNotFoundError(f"no module {match['module']!r} to serve: {module_file.name} is not in {app_dir}")
    if not isinstance(health_path, str) or not health_path.startswith("/"):
        raise ValueError(f"health_path must be a URL path starting with '/', got {health_path!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")

    if env is not None and not (isinstance(env, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())):
        raise TypeError("env must map variable names to string values, e.g. {'MODEL_PACKAGE': str(path)}")
    port = free_port()
    log_path = app_dir / "server.log" if log_path is None else Path(log_path)
    log = open(log_path, "wb")  # noqa: SIM115 - closed by Service.stop()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
               "--app-dir", str(app_dir), *extra_args]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=None if env is None else {**os.environ, **env},
                               preexec_fn=_end_with_parent if sys.platform.startswith("linux") else None)
    service = Service(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, _log=log)
    atexit.register(service.stop)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            service.stop()
            raise RuntimeError(f"the service {app} exited with code {process.returncode} before answering; "
                               f"last lines of {log_path.name}:\n{_last_lines(log_path)}")
        try:
            with urllib.request.urlopen(service.url + health_path, timeout=2) as response:
                if response.status == 200:
                    return service
        except urllib.error.HTTPError as error:  # it runs, but the health path is wrong
            service.stop()
            raise RuntimeError(f"the service {app} answered {error.code} at {health_path}; "
                               "pass the path of its health endpoint as health_path=") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"the service {app} did not answer at {health_path} within {timeout:g} s; "
                       f"last lines of {log_path.name}:\n{_last_lines(log_path)}")


def save_model_version(model, registry: Path | str, input_example, *, reviewed_types: Sequence[str],
                       pip_requirements: Sequence[str] | None = None) -> Path:
    """Save a fitted scikit-learn model as the next version (``1/``, ``2/``, ...) of a folder registry (chapter 11).

    The package is MLflow's sklearn flavour in the skops format, with ``predict_proba`` as its predict
    function and its signature inferred from ``input_example``. Raises :class:`ValueError`, naming them,
    when skops would need to trust types outside ``reviewed_types``: a person reviews those first.
    """
    import logging

    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    registry = Path(registry)
    if isinstance(reviewed_types, str):
        raise TypeError("reviewed_types must be a list of type names, e.g. ['numpy.dtype'], not one string")
    needed = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    unreviewed = sorted(set(needed) - set(reviewed_types))
    if unreviewed:
        raise ValueError(f"the model needs types nobody reviewed: {unreviewed}; review them, then add them to reviewed_types")
    registry.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name) for p in registry.iterdir() if p.is_dir() and p.name.isdigit()]
    folder = registry / str(max(taken, default=0) + 1)
    logging.getLogger("mlflow.models.model").setLevel(logging.ERROR)
    signature = infer_signature(input_example, model.predict_proba(input_example))
    mlflow.sklearn.save_model(model, folder, signature=signature, input_example=input_example.head(2),
                              pyfunc_predict_fn="predict_proba", serialization_format="skops",
                              skops_trusted_types=sorted(needed),
                              pip_requirements=None if pip_requirements is None else list(pip_requirements))
    return folder
