"""The CLI and the demo (uses scikit-learn's bundled breast-cancer data)."""

import subprocess
import sys

import numpy as np
import pytest

from leaveout.cli import main

pytest.importorskip("sklearn")


def test_demo_numbers_are_consistent():
    from leaveout.demo import run_demo

    res = run_demo(seed=0)
    assert res.n_train + res.n_test == 569 and res.n_params == 31
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


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "leaveout.cli", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("leaveout ")
