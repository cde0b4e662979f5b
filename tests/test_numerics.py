"""Numerical honesty: float32 inputs are computed in float64, results are bit-for-bit
deterministic, and they do not depend on the number of BLAS threads (bit for bit)."""

import numpy as np
import pytest

import leaveout
from leaveout import targets
from conftest import make_data

threadpoolctl = pytest.importorskip("threadpoolctl")


def _everything(X, y, family, sample_weight=None, Xq=None, yq=None):
    """Every number leaveout computes for one problem, as a dict of float64 arrays."""
    model = leaveout.fit(X, y, family=family, l2=1.0, sample_weight=sample_weight)
    att = leaveout.Attributor(model, X, y, sample_weight)
    sets = [[0, 3, 7], [5], list(range(10, 30))]
    loss = targets.loss(Xq, yq, reduce="sum")
    pred = targets.prediction(Xq)
    out = {"fit": model.params_, "params": att.params_, "leverage": att.leverage,
           "condition": np.array([att.condition_number_])}
    for m in leaveout.METHODS:
        out[f"{m}/sets"] = att.effects(m, remove=sets)
        out[f"{m}/sets/loss"] = att.effects(m, remove=sets, target=loss)
    for m in ("if", "rif", "newton"):
        out[f"{m}/rows"] = att.effects(m)
        out[f"{m}/rows/prediction"] = att.effects(m, target=pred)
    return out


def _problem(family, n=300, p=40, seed=0):
    X, y = make_data(family, n=n, p=p, seed=seed)
    Xq, yq = make_data(family, n=25, p=p, seed=seed + 1)
    sw = np.random.default_rng(seed).uniform(0.5, 2.0, size=n)
    return X, y, sw, Xq, yq


@pytest.mark.parametrize("family", sorted(leaveout.FAMILIES))
def test_float32_inputs_are_computed_in_float64(family):
    # Reference: the same values cast to float64 by hand; the results must be identical.
    X, y, sw, Xq, yq = _problem(family)
    f32 = [a.astype(np.float32) for a in (X, y, sw, Xq, yq)]
    f64 = [a.astype(np.float64) for a in f32]
    a = _everything(f32[0], f32[1], family, f32[2], f32[3], f32[4])
    b = _everything(f64[0], f64[1], family, f64[2], f64[3], f64[4])
    for key in b:
        assert a[key].dtype == np.float64, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("family", sorted(leaveout.FAMILIES))
def test_two_runs_are_bit_for_bit_identical(family):
    X, y, sw, Xq, yq = _problem(family)
    a = _everything(X, y, family, sw, Xq, yq)
    b = _everything(X.copy(), y.copy(), family, sw.copy(), Xq.copy(), yq.copy())
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("family", sorted(leaveout.FAMILIES))
@pytest.mark.parametrize("shape", [(4500, 30), (4000, 70)])
def test_results_do_not_depend_on_blas_threads(family, shape):
    # Bit for bit: leaveout runs BLAS on one thread and parallelises over fixed row chunks
    # (leaveout._threads). n > CHUNK_ROWS, so there are several chunks; big enough for BLAS
    # to split the products over threads if it were allowed to.  (4000, 70) is fitted by
    # L-BFGS on fused sweeps first (leaveout.fitting.minimise), (4500, 30) by Newton alone.
    X, y, sw, Xq, yq = _problem(family, n=shape[0], p=shape[1])
    with threadpoolctl.threadpool_limits(limits=2):
        double = _everything(X, y, family, sw, Xq, yq)
    with threadpoolctl.threadpool_limits(limits=1):
        single = _everything(X, y, family, sw, Xq, yq)
    for key in double:
        np.testing.assert_array_equal(single[key], double[key], err_msg=key)


@pytest.mark.parametrize("family", sorted(leaveout.FAMILIES))
def test_condition_number_estimate_matches_numpy(family):
    # Reference: NumPy's exact 1-norm condition number of the Hessian, built independently.
    # LAPACK's estimate is a lower bound, in practice within a factor of a few; a cruder estimate
    # such as (max / min diagonal of the Cholesky factor)² is off by 1e4 here.
    y = make_data(family, n=200, p=5, seed=3)[1]
    X = np.vander(np.random.default_rng(3).random(200), 6)[:, :-1]   # powers 5..1: cond ≈ 3e7
    l2 = 1e-6
    att = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=l2), X, y)
    Xt = np.column_stack([X, np.ones(len(y))])
    w = leaveout.FAMILIES[family].d2(Xt @ att.params_, y)
    H = (Xt * w[:, None]).T @ Xt + l2 * np.diag(np.r_[np.ones(X.shape[1]), 0.0])
    exact = np.linalg.cond(H, 1)
    assert exact > 1e7
    assert exact / 10 <= att.condition_number_ <= exact * (1 + 1e-6)


def test_chunk_workers_keep_the_callers_errstate(monkeypatch):
    # The fused sweeps of the fit set np.errstate once, around all chunks: a chunk computed on
    # another worker thread must see it (an overflow there is no warning, as on one worker).
    import warnings

    from leaveout import _threads

    monkeypatch.setattr(_threads, "_workers", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="ignore"):
            parts = _threads.map_chunks(lambda sl: np.exp(np.full(3, 1000.0)),
                                        [slice(0, 1), slice(1, 2), slice(2, 3)])
    assert all(np.isinf(part).all() for part in parts)
