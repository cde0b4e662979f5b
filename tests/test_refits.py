"""Long retraining: parallel refits equal serial ones bit for bit, a progress bar, reused counts.

Reference: the serial refits (themselves tested against independent refits elsewhere) and
``leaveout.fit`` on the retained rows.
"""

import logging
import sys
import warnings

import numpy as np
import pytest

import leaveout
from conftest import make_data


@pytest.fixture(scope="module")
def problem():
    X, y = make_data("logistic", n=150, p=6, seed=8)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    sets = [list(range(i, i + 4)) for i in range(0, 120, 5)]
    sets.append(list(np.flatnonzero(y == 1)))             # leaves one class: no finite optimum
    return att, X, y, sets


def test_parallel_refits_equal_serial_bit_for_bit_and_in_order(problem):
    pytest.importorskip("joblib")
    att, X, y, sets = problem
    with pytest.warns(leaveout.HighLeverageWarning, match="Retraining without set 24"):
        serial = att.effects("retrain", remove=sets)
    with pytest.warns(leaveout.HighLeverageWarning, match="Retraining without set 24"):
        parallel = att.effects("retrain", remove=sets, n_jobs=2)   # warned in this process
    np.testing.assert_array_equal(parallel, serial)             # NaN in the same place
    assert np.isnan(serial[-1]).all() and np.isfinite(serial[:-1]).all()
    keep = np.setdiff1d(np.arange(len(y)), sets[3])
    np.testing.assert_allclose(serial[3] + att.params_,
                               leaveout.fit(X[keep], y[keep], l2=1.0).params_, rtol=1e-8)
    np.testing.assert_array_equal(att.retrain(sets[:5], n_jobs=-1), att.retrain(sets[:5]))


def test_progress_bar_says_how_many_refits_were_reused(problem, tmp_path, capsys, caplog):
    pytest.importorskip("tqdm")
    att, X, y, sets = problem
    att.effects("retrain", remove=sets[:10], checkpoint=tmp_path)
    capsys.readouterr()
    with caplog.at_level(logging.INFO, logger="leaveout"):
        again = att.effects("retrain", remove=sets[:20], checkpoint=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "retrain" in err and "10/20" in err and "10 reused from checkpoint" in err
    assert "10 of 20 sets reused from the checkpoint" in caplog.text
    np.testing.assert_array_equal(again, att.effects("retrain", remove=sets[:20]))
    # Default: no bar when stderr is not a terminal (as under pytest); False: never.
    att.effects("retrain", remove=sets[:3])
    att.effects("retrain", remove=sets[:3], progress=False)
    assert capsys.readouterr().err == ""


def test_missing_optional_packages(problem, monkeypatch, capsys):
    att, X, y, sets = problem
    monkeypatch.setitem(sys.modules, "tqdm", None)          # import tqdm → ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    out = att.effects("retrain", remove=sets[:3], progress=True)   # quietly no bar
    assert capsys.readouterr().err == "" and np.isfinite(out).all()
    monkeypatch.setitem(sys.modules, "joblib", None)
    with pytest.raises(ImportError, match="pip install joblib"):
        att.effects("retrain", remove=sets[:3], n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att.effects("retrain", remove=sets[:3], n_jobs=1)     # serial needs no joblib
