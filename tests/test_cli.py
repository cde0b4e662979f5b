"""The CLI and the demo (uses scikit-learn's bundled breast-cancer data)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import leaveout

from leaveout.cli import main

pytest.importorskip("sklearn")


def test_demo_numbers_are_consistent():
    from leaveout.demo import run_demo

    with warnings.catch_warnings():
        warnings.simplefilter("error", leaveout.SetLeverageWarning)  # shown in the table instead
        res = run_demo(seed=0)
    assert res.n_train + res.n_test == 569 and res.n_params == 31
    # The set leverage column: h_i for the one-row set, in [0, 1) for every set.
    assert len(res.set_leverage) == len(res.rows)
    assert res.set_leverage[0] == pytest.approx(res.leverage.max(), rel=1e-10)
    assert all(0 <= v < 1 for v in res.set_leverage)
    assert np.all((res.leverage >= 0) & (res.leverage < 1))
    # Σ h_i is the effective number of parameters: positive and at most n_params.
    assert 0 < res.leverage.sum() <= res.n_params
    # The newton step is closer to retraining than IF on every set of the demo (parameters).
    for name, size, eff, err in res.rows:
        assert err["newton"] <= err["if"] + 1e-12, name
        assert np.isfinite(list(eff.values())).all()


def test_demo_command_prints_table(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Leverage" in out and "retrain" in out and "highest-leverage row" in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_bench_progress_bars_follow_the_sets(monkeypatch, tmp_path, capsys):
    """The callback the CLI gives run_bench draws one bar per dataset up to its total."""
    pytest.importorskip("tqdm")
    from leaveout import _cli_app
    from leaveout.bench import runner

    bars = []

    def fake(out, cfg, *, progress):
        for done in (1, 2, 3):
            progress("breast_cancer", done, 3)
        bars.append(progress.bar.n if progress.bar is not None else None)
        progress("grants", 1, 5)

    monkeypatch.setattr(runner, "run_bench", fake)
    monkeypatch.setattr(_cli_app.sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["bench", "--out", str(tmp_path)]) == 0
    assert bars == [3]


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "leaveout.cli", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("leaveout ")


# --------------------------------------------------------------------------------------------
# `leaveout bench` argument handling (the studies themselves are replaced by recorders here;
# tests/test_bench_runner.py runs them for real)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def recorded(monkeypatch):
    """Replace both studies and the results page by recorders of their arguments."""
    from leaveout.bench import poisoning, report, runner

    calls = {}
    monkeypatch.setattr(runner, "run_bench",
                        lambda out, cfg, **kw: calls.setdefault("accuracy", cfg))
    monkeypatch.setattr(poisoning, "run_poisoning",
                        lambda out, **kw: calls.setdefault("poisoning", kw))
    monkeypatch.setattr(report, "rewrite_report", lambda out: None)
    return calls


def test_bench_all_passes_datasets_to_both_studies(recorded, tmp_path, capsys, caplog):
    with caplog.at_level("WARNING"):
        assert main(["bench", "all", "--datasets", "breast_cancer, synthetic_squared_p0.6",
                     "--out", str(tmp_path)]) == 0
    assert recorded["accuracy"].datasets == ("breast_cancer", "synthetic_squared_p0.6")
    assert recorded["poisoning"]["datasets"] == ["breast_cancer"]
    assert "leaves out synthetic_squared_p0.6" in caplog.text


def test_bench_all_checks_datasets_before_running(recorded, tmp_path, capsys):
    assert main(["bench", "all", "--datasets", "nope", "--out", str(tmp_path)]) == 2
    assert "Unknown datasets ['nope']" in capsys.readouterr().err
    assert main(["bench", "all", "--datasets", "synthetic_squared_p0.6",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "poisoning study of `bench all` needs logistic datasets" in err
    assert recorded == {}  # nothing ran


@pytest.mark.parametrize("args, option", [
    (["demo", "--seed", "-1"], "--seed"),
    (["bench", "--seed", "-1"], "--seed"),
    (["bench", "--seed", str(2**63)], "--seed"),
    (["bench", "--n-jobs", "0"], "--n-jobs"),
    (["bench", "--datasets", ","], "--datasets"),
    (["bench", "--datasets", " "], "--datasets"),
])
def test_bad_options_are_usage_errors(args, option, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"Invalid value for '{option}'" in err and "Traceback" not in err
    assert err.startswith("leaveout: error: ") and len(err.strip().splitlines()) == 1


def test_out_and_cache_dir_must_be_directories(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for option in ("--out", "--cache-dir"):
        for path in (afile, afile / "sub"):
            assert main(["bench", option, str(path)]) == 2
            assert f"Invalid value for '{option}'" in capsys.readouterr().err


def test_datasets_names_are_stripped(recorded, tmp_path):
    assert main(["bench", "--datasets", " breast_cancer , synthetic_squared_p0.6,",
                 "--out", str(tmp_path)]) == 0
    assert recorded["accuracy"].datasets == ("breast_cancer", "synthetic_squared_p0.6")


@pytest.mark.parametrize("exc, expect, code", [
    (PermissionError(13, "Permission denied", "/x/results.csv"),
     "leaveout: error: cannot write to /x/results.csv: Permission denied", 1),
    (KeyboardInterrupt(), "leaveout: interrupted; rerun the same command to resume", 130),
])
def test_os_errors_and_interrupts_are_one_line(monkeypatch, tmp_path, capsys, exc, expect, code):
    from leaveout.bench import runner

    def fail(out, cfg, **kw):
        raise exc

    monkeypatch.setattr(runner, "run_bench", fail)
    assert main(["bench", "--out", str(tmp_path)]) == code
    err = capsys.readouterr().err
    assert err.strip() == expect


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_unwritable_out_is_one_line_error(capsys):
    assert main(["bench", "--quick", "--no-sweeps", "--datasets", "breast_cancer",
                 "--out", "/proc/leaveout-test/out"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("leaveout: error: cannot write to /proc/leaveout-test")
    assert len(err.strip().splitlines()) == 1


def test_without_click_the_command_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "click", None)  # import click raises ImportError
    assert main(["demo"]) == 2
    assert capsys.readouterr().err.strip() == (
        'leaveout: error: the command line needs click: pip install "leaveout[cli]"')


def test_importing_leaveout_does_not_import_click_or_pandas():
    code = ("import sys, leaveout, leaveout.cli; "
            "print(sorted(m for m in ('click', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
