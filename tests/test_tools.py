"""Unit tests of the maintainer tools in tools/: make execute and the seed sweep."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from tools import execute
from utils.paths import REPO_ROOT


# ---------------------------------------------------------------- execute (make execute)
def test_record_runtime_updates_one_column_and_keeps_the_rest(tmp_path):
    import datetime as dt

    csv_path = tmp_path / "runtimes.csv"
    day = dt.date(2026, 1, 2)
    execute.record_runtime(csv_path, "1. Intro", "01_intro.ipynb", 41.6, "cpu", day)
    execute.record_runtime(csv_path, "2. Next", "02_next.ipynb", 10, "cpu", day)
    execute.record_runtime(csv_path, "1. Intro", "01_intro.ipynb", 12.2, "gpu", day)
    rows = pd.read_csv(csv_path, dtype=str, keep_default_na=False).to_dict("records")
    assert rows[0] == {"chapter": "1. Intro", "notebook": "01_intro.ipynb", "cpu_seconds": "42",
                       "cpu_measured": "2026-01-02", "gpu_seconds": "12", "gpu_measured": "2026-01-02"}
    assert rows[1]["gpu_seconds"] == ""
    with pytest.raises(ValueError, match=r"allowed: \['cpu', 'gpu'\]"):
        execute.record_runtime(csv_path, "x", "x.ipynb", 1, "tpu", day)
    with pytest.raises(ValueError, match="negative"):
        execute.record_runtime(csv_path, "x", "x.ipynb", -1, "cpu", day)


def test_toc_files_lists_every_page_root_first(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n      - file: chapters/01_x\n"
                   "  - caption: B\n    chapters:\n      - file: guide\n", encoding="utf-8")
    assert execute.toc_files(toc) == ["intro", "chapters/01_x", "guide"]
    assert execute.toc_files()[0] == "intro" and "runtimes" in execute.toc_files()


def test_toc_notebooks_and_titles():
    import nbformat

    notebooks = execute.toc_notebooks()
    assert notebooks and all(path.suffix == ".ipynb" for path in notebooks)
    title = execute.notebook_title(nbformat.read(notebooks[0], as_version=4))
    assert title.startswith("1. ")
    with pytest.raises(ValueError, match="no '# Title' heading"):
        execute.notebook_title({"cells": [{"cell_type": "markdown", "source": "## only H2"}]})


def test_widget_state_is_kept_only_when_an_output_shows_a_widget():
    view = {"output_type": "display_data", "data": {execute.WIDGET_VIEW: {"model_id": "a"}}}
    state = {execute.WIDGET_STATE: {"state": {"a": {}}}}
    unshown = {"metadata": {"widgets": dict(state)}, "cells": [{"cell_type": "code", "outputs": []}]}
    assert execute.drop_unshown_widget_state(unshown) is True and "widgets" not in unshown["metadata"]
    shown = {"metadata": {"widgets": dict(state)}, "cells": [{"cell_type": "code", "outputs": [view]}]}
    assert execute.drop_unshown_widget_state(shown) is False and "widgets" in shown["metadata"]
    assert execute.drop_unshown_widget_state({"metadata": {}, "cells": []}) is False


# ---------------------------------------------------------------- seed sweep (band setting)
def test_parse_seeds_accepts_ranges_and_lists():
    from tools.seed_sweep import parse_seeds

    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,5, 7-8") == [1, 5, 7, 8]
    with pytest.raises(ValueError, match="bad seed list 'x'"):
        parse_seeds("x")
    with pytest.raises(ValueError, match="end is below the start"):
        parse_seeds("5-2")


def test_seeded_copy_replaces_the_seed_and_records_checks(tmp_path):
    import nbformat

    from tools.seed_sweep import seeded_copy

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("utils.setup_notebook(seed=42)"),
        nbformat.v4.new_code_cell("model = Forest(random_state=42); rng = np.random.default_rng(42); x = 420; torch.manual_seed(42)"),
        nbformat.v4.new_code_cell("SEED = 42\nDEFAULT_SEED = 42"),
    ])
    clone = seeded_copy(nb, 7, tmp_path / "records.json")
    sources = [cell.source for cell in clone.cells]
    assert sources[0] == "utils.setup_notebook(seed=7)"
    assert "utils.check_metric = _record_check" in sources[1]
    assert sources[2] == "model = Forest(random_state=7); rng = np.random.default_rng(7); x = 420; torch.manual_seed(7)"
    assert sources[3] == "SEED = 7\nDEFAULT_SEED = 42", "only a line that is exactly `SEED = 42` is a seed"
    assert "records.json" in sources[-1]
    assert nb.cells[0].source == "utils.setup_notebook(seed=42)", "the original must stay unchanged"


def test_sweep_report_flags_values_outside_the_band_and_the_margin_rule():
    from tools.seed_sweep import report, summarise

    rows = [{"seed": s, "check": "acc", "value": v, "at_least": 0.9, "at_most": None} for s, v in [(0, 0.95), (1, 0.97)]]
    rows += [{"seed": s, "check": "err", "value": v, "at_least": None, "at_most": 0.1} for s, v in [(0, 0.05), (1, 0.2)]]
    assert report(rows).splitlines() == [
        "ok  acc: band [0.9, ], min 0.95, max 0.97",
        "OUT err: band [, 0.1], min 0.05, max 0.2",
    ]
    loose = [{**row, "at_least": 0.5} if row["check"] == "acc" else row for row in rows]
    lines = report(loose, summarise(loose, shipped=42)).splitlines()
    assert lines[1].startswith("    rule: the lower bound is 9.28 units of 0.0485 beyond") and "claim=" in lines[1]
    assert lines[3] == ("    rule: the upper bound is -0.1 beyond the sweep's range; the rule asks for at least 0.075 "
                        "(half the spread 0.15, or the rerun difference)")


def test_sweep_summary_records_the_shipped_seed_runs_and_merges(tmp_path):
    from tools.seed_sweep import merge_records, read_record, summarise, write_record
    from utils.checks import SweepRecord

    rows = [{"seed": s, "check": "acc", "value": v} for s, v in [(0, 0.95), (1, 0.97), (42, 0.96), (42, 0.962)]]
    rows += [{"seed": 0, "check": "err", "value": 0.05}]
    [acc, err] = summarise(rows, shipped=42)
    assert acc == SweepRecord("acc", "0-1,42", 4, 0.95, 0.97, 42, 2, 0.96, 0.962)
    assert err == SweepRecord("err", "0", 1, 0.05, 0.05, 42, 0, None, None) and err.rerun is None
    path = tmp_path / "sweeps" / "01_x.csv"
    write_record(path, [acc, err])
    assert read_record(path) == {"acc": acc, "err": err}
    [merged] = merge_records({"acc": acc}, summarise([{"seed": 42, "check": "acc", "value": 0.99}], shipped=42))
    assert merged == SweepRecord("acc", "0-1,42", 5, 0.95, 0.99, 42, 3, 0.96, 0.99)
    with pytest.raises(ValueError, match="shipped seed 42, now 7"):
        merge_records({"acc": acc}, summarise([{"seed": 7, "check": "acc", "value": 0.9}], shipped=7))


def test_committed_rows_read_the_stored_verdicts_as_one_shipped_seed_run():
    import nbformat

    from tools.seed_sweep import committed_rows, shipped_seed

    cell = nbformat.v4.new_code_cell("utils.setup_notebook(seed=42)")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "check: ..."}, metadata={
        "course_check": {"name": "acc", "value": 0.97, "at_least": 0.9, "at_most": None, "claim": None}})]
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert shipped_seed(nb) == 42
    assert committed_rows(nb, 42) == [{"seed": 42, "run": "committed", "check": "acc", "value": 0.97,
                                       "at_least": 0.9, "at_most": None, "claim": None}]
    with pytest.raises(ValueError, match="no shipped seed"):
        shipped_seed(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]))


def test_format_seeds_is_the_inverse_of_parse_seeds():
    from tools.seed_sweep import format_seeds, parse_seeds

    assert format_seeds([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert parse_seeds(format_seeds([3, 4, 9, 10, 11, 20])) == [3, 4, 9, 10, 11, 20]
    assert format_seeds([4]) == "4"


def test_run_notebook_runs_in_the_folder_and_leaves_no_kernel_behind(tmp_path):
    import os
    import subprocess

    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; print(os.getcwd()); print(os.getpid())")])
    seconds = execute.run_notebook(nb, tmp_path, timeout=60)
    assert seconds > 0
    cwd, pid = nb.cells[0].outputs[0]["text"].split()
    assert cwd == str(tmp_path)
    try:
        os.kill(int(pid), 0)  # signal 0: does the process still exist?
    except ProcessLookupError:
        return
    status = subprocess.run(["ps", "-o", "stat=", "-p", pid], capture_output=True, text=True).stdout.strip()
    assert status.startswith("Z"), f"the kernel (pid {pid}) is still running after run_notebook returned"


def test_set_repo_url_rewrites_the_setting_and_every_copy(tmp_path):
    from tools import set_repo_url as tool

    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/old-owner/course\n  branch: main\n")
    (tmp_path / "intro.md").write_text("git clone https://github.com/old-owner/course && cd course\n"
                                       "see https://github.com/old-owner/course-extras and https://github.com/other/course\n")
    notebook = tmp_path / "ch.ipynb"
    notebook.write_text('{"source": ["[![Open In Colab](x)](https://colab.research.google.com/github/old-owner/course/blob/main/ch.ipynb)",'
                        ' "subprocess.run([\\"git\\", \\"clone\\", \\"https://github.com/old-owner/course\\", str(ROOT)])"]}')
    (tmp_path / "untracked.md").write_text("https://github.com/old-owner/course\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "_config.yml", "intro.md", "ch.ipynb"], cwd=tmp_path, check=True)

    changed = tool.set_repo_url("https://github.com/new-owner/ml", root=tmp_path)

    assert sorted(p.name for p in changed) == ["_config.yml", "ch.ipynb", "intro.md"]
    assert tool.configured_url(tmp_path) == "https://github.com/new-owner/ml"
    intro = (tmp_path / "intro.md").read_text()
    assert "git clone https://github.com/new-owner/ml && cd" in intro
    assert "https://github.com/old-owner/course-extras" in intro and "https://github.com/other/course" in intro
    text = notebook.read_text()
    assert "colab.research.google.com/github/new-owner/ml/blob/main/ch.ipynb" in text and "old-owner" not in text
    assert "old-owner" in (tmp_path / "untracked.md").read_text()  # only files git tracks are touched


@pytest.mark.parametrize("bad", ["github.com/a/b", "https://github.com/a/b/", "https://github.com/a/b.git", "https://gitlab.com/a/b", "https://github.com/a"])
def test_set_repo_url_rejects_what_is_not_a_github_repository_url(bad):
    from tools import set_repo_url as tool

    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        tool.slug_of(bad)


def test_every_copy_of_the_course_url_is_one_set_repo_url_rewrites():
    """A copy of the URL in a form the tool would miss would go stale when the course moves."""
    from tools import set_repo_url as tool

    slug = tool.slug_of(tool.configured_url())
    for path in tool.tracked_text_files(REPO_ROOT):
        leftover = tool.rewrite(path.read_text(encoding="utf-8"), slug, "someone-else/elsewhere")
        assert slug not in leftover, f"{path.relative_to(REPO_ROOT)} mentions {slug} in a form tools/set_repo_url.py does not rewrite"


# ---------------------------------------------------------------- tools.alt_text
def test_alt_text_is_drafted_from_titles_labels_and_legend():
    from tools.alt_text import describe

    source = ('fig, (a, b) = plt.subplots(1, 2)\na.plot(x, y, label="training")\na.plot(x, z, label=f"validation ({n})")\n'
              'a.set(title="Loss by epoch", xlabel="epoch", ylabel="loss")\nb.bar(names, values)\nb.set_title("Final scores")\n'
              'fig.suptitle(f"Run {seed}")\nplt.show()\n')
    text = describe(source)
    assert text.startswith("Line chart and bar chart titled “Loss by epoch”; “Final scores”; “Run …”.")
    assert "Vertical axis: loss." in text and "Horizontal axis: epoch." in text and "Legend: training; validation (…)." in text
    assert describe("plt.imshow(image)\nplt.axis('off')\n") == ""  # nothing to draft from: a person writes it


def test_alt_text_tool_lists_what_lacks_alt_text_and_fills_it(tmp_path, capsys):
    import nbformat

    from tools.alt_text import alt_of, main

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('plt.plot(x)\nplt.title("Rising line")\nplt.ylabel("y")\nplt.show()')
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})]
    nb.cells = [cell]
    path = tmp_path / "figure.ipynb"
    nbformat.write(nb, path)
    assert main([str(path)]) == 1 and "no alt text" in capsys.readouterr().out
    assert main(["--write", str(path)]) == 0
    assert alt_of(nbformat.read(path, as_version=4).cells[0]) == "Line chart titled “Rising line”. Vertical axis: y."
    assert main([str(path)]) == 0


# ---------------------------------------------------------------- tools.canary
def test_canary_unpins_everything_but_holds_torch(tmp_path):
    from tools import canary

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\ntorch==2.13.0\nnumpy==2.4.6  # note\njupyter-book>=1.0.4.post1,<2\nkeras[jax]==3.15.1\n"
                            "-r other.txt\n", encoding="utf-8")
    packages = canary.pins(requirements)
    assert [(p["name"], p["pinned"]) for p in packages] == [("torch", "2.13.0"), ("numpy", "2.4.6"), ("jupyter-book", ">=1.0.4.post1,<2"),
                                                          ("keras", "3.15.1")]
    wanted, constraints = canary.canary_requirements(packages)
    assert wanted.split() == ["torch==2.13.0", "numpy", "jupyter-book", "keras[jax]"] and constraints.split() == ["torch==2.13.0"]


def test_canary_report_names_each_failure(tmp_path, monkeypatch):
    from tools import canary

    monkeypatch.setattr(canary, "REPORT_DIR", tmp_path)
    report = {"date": "2026-12-07", "python": "3.11.7", "installed": True, "install_seconds": 300.0,
              "packages": [{"name": "torch", "pinned": "2.13.0", "newest": "2.13.0"}, {"name": "numpy", "pinned": "2.4.6", "newest": "2.5.0"}],
              "notebooks": [{"notebook": "05_x.ipynb", "status": "fail", "seconds": 61.0, "crashed": None,
                             "failing_checks": [{"cell": 12, "error": "MetricCheckError", "message": "check failed: a = 0.7, expected >= 0.8"}],
                             "errors": [], "new_warnings": [{"cell": 3, "line": "FutureWarning: x is deprecated"}]},
                            {"notebook": "01_y.ipynb", "status": "pass", "seconds": 12.0, "crashed": None,
                             "failing_checks": [], "errors": [], "new_warnings": []}]}
    canary.write_report(report)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "1 pass, 1 fail, 0 crashed" in text and "| numpy | 2.4.6 | 2.5.0 | newer |" in text and "held: newer torch" in text
    assert "failing check (cell 12): check failed: a = 0.7, expected >= 0.8" in text and "FutureWarning: x is deprecated" in text
    assert (tmp_path / "report.json").is_file()


def dry_run_make_test(*args: str) -> subprocess.CompletedProcess:
    from tests.test_lab import make_env

    return subprocess.run(["make", "-n", "test", *args], cwd=REPO_ROOT, env=make_env(), capture_output=True, text=True)


def test_make_test_nb_runs_one_chapters_checks_alone():
    one, other = "chapters/05_the_machine_learning_project_lifecycle.ipynb", "chapters/12_capstone_projects.ipynb"
    done = dry_run_make_test(f"NB={one} {other}")
    assert done.returncode == 0, done.stderr
    command = next(line for line in done.stdout.splitlines() if "-m pytest" in line)
    # the notebooks under nbval and their own structure and claims tests; no book, no browser
    assert f"{one} {other} tests/test_notebooks.py -k '05_the_machine_learning_project_lifecycle or 12_capstone_projects'" in command
    assert f'if [ -z "{one} {other}" ]; then' in done.stdout  # so the browser is not looked for
    whole = next(line for line in dry_run_make_test().stdout.splitlines() if "-m pytest" in line)
    assert "-k" not in whole and "tests/test_notebooks.py" not in whole


def test_make_test_nb_names_a_missing_or_wrong_file():
    missing = dry_run_make_test("NB=chapters/05_no_such_chapter.ipynb")
    assert missing.returncode != 0
    assert "NB=chapters/05_no_such_chapter.ipynb: no such file" in missing.stderr
    assert "e.g. NB=chapters/01_introduction_to_machine_learning_and_python.ipynb" in missing.stderr
    wrong = dry_run_make_test("NB=README.md")
    assert wrong.returncode != 0 and "NB=README.md: not a notebook" in wrong.stderr


def test_make_lets_python_keep_the_bytecode_it_compiles():
    """`make env` installs no .pyc files, so make's commands must be allowed to write them on first import."""
    from tests.test_lab import make_env

    probe = 'probe: ; @echo "[$${PYTHONDONTWRITEBYTECODE-unset}]"'
    done = subprocess.run(["make", "-s", "--eval", probe, "probe"], cwd=REPO_ROOT, env=make_env() | {"PYTHONDONTWRITEBYTECODE": "1"},
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[unset]", done.stdout


def test_make_env_installs_with_uv_given_pips_find_links_and_falls_back_to_pip(tmp_path):
    from tests.test_lab import make_env

    env = make_env() | {"PIP_FIND_LINKS": str(tmp_path / "wheels")}
    done = subprocess.run(["make", "-n", "env", f"VENV={tmp_path / 'venv'}"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, check=True)
    uv_line = next(line for line in done.stdout.splitlines() if "uv pip install" in line)
    assert f"--find-links {tmp_path / 'wheels'}" in uv_line
    assert "--compile-bytecode" not in uv_line  # modules are compiled when first imported (next test)
    assert f"{tmp_path / 'venv'}/bin/python -m pip install -q \"uv==" in done.stdout
    assert f"{tmp_path / 'venv'}/bin/python -m pip install -q -r $wanted" in done.stdout  # the fallback


# ---------------------------------------------------------------- test_plan (the phases of make test)
def test_every_notebook_whose_checks_measure_time_runs_alone():
    from tools import test_plan

    notebooks = execute.toc_notebooks()
    assert set(test_plan.ALONE) <= {nb.stem for nb in notebooks}, "ALONE names a notebook that is not in _toc.yml"
    timed = {nb.stem: test_plan.timing_checks(nb) for nb in notebooks}
    shared_but_timed = {stem: names for stem, names in timed.items() if names and stem not in test_plan.ALONE}
    assert not shared_but_timed, f"these checks measure time, so their notebooks must run alone (tools/test_plan.ALONE): {shared_but_timed}"
    assert sum(map(bool, timed.values())) >= 4  # the detector finds the course's timing checks (chapters 1, 3, 4, 11, 12)


def test_timing_checks_are_told_apart_by_name(tmp_path):
    from tools import test_plan

    cell = {"cell_type": "code", "source": ['utils.check_metric("tf.function speed-up on 50 small ops", s, at_least=2)\n',
                                            'utils.check_metric("p99 latency, 4000 / 1000 offered", r, at_least=1)\n',
                                            "utils.check_metric(\"the chosen model's test accuracy\", a, at_least=0.9)\n"]}
    notebook = tmp_path / "x.ipynb"
    notebook.write_text(json.dumps({"cells": [cell, {"cell_type": "markdown", "source": ['check_metric("seconds")']}]}))
    assert test_plan.check_names(notebook) == ["tf.function speed-up on 50 small ops", "p99 latency, 4000 / 1000 offered",
                                               "the chosen model's test accuracy"]
    assert test_plan.timing_checks(notebook) == ["tf.function speed-up on 50 small ops", "p99 latency, 4000 / 1000 offered"]


def test_plan_puts_every_notebook_in_exactly_one_phase_shared_ones_longest_first(capsys):
    from tools import test_plan

    notebooks = execute.toc_notebooks()
    phases = test_plan.plan()
    assert sorted(phases["shared"] + phases["alone"]) == sorted(notebooks) and not set(phases["shared"]) & set(phases["alone"])
    assert sorted(phases["alone"], key=notebooks.index) == phases["alone"]
    seconds = test_plan.recorded_seconds()
    assert set(seconds) == {nb.stem for nb in notebooks}
    shared_seconds = [seconds[nb.stem] for nb in phases["shared"]]
    assert shared_seconds == sorted(shared_seconds, reverse=True)
    assert phases["alone"] and phases["shared"]
    assert test_plan.main(["alone"]) == 0
    assert capsys.readouterr().out.split() == [p.relative_to(REPO_ROOT).as_posix() for p in phases["alone"]]
    assert test_plan.main(["everything"]) == 2
    assert "one of shared, alone; got everything" in capsys.readouterr().err
