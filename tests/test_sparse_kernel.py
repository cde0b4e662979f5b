"""Sparse designs and the kernel form (DESIGN.md §5, §8): every pair of backends agrees.

- sparse = dense and kernel = primal for the fit, leverages and every method, on sets, per row
  and on targets, for all three families, with and without intercept, with sample weights
  (to 1e-10; the two sides share no solve: p × p Cholesky vs (n+1) × (n+1) bordered system);
- leverages equal an independent dense computation of S = I − λ (M⁻¹)₁₁ written here;
- no code path densifies a sparse X (any toarray/todense of an n × p matrix raises);
- the chooser, its refusals, and outputs too large to return.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import leaveout
from leaveout import solvers, targets
from leaveout.exceptions import ProblemTooLargeError

FAMILIES = ("logistic", "squared", "poisson")
# Sets of up to 15 of 50 rows of a wide design have high set leverage: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::leaveout.SetLeverageWarning")


def wide_data(family, n=50, p=120, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * (rng.random((n, p)) < density)
    eta = 0.4 * X[:, :6].sum(axis=1)
    if family == "logistic":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "squared":
        y = eta + rng.normal(size=n)
    else:
        y = rng.poisson(np.exp(0.5 * eta)).astype(float)
    return X, y, rng.uniform(0.5, 2.0, n)


SETS = [np.arange(4), np.arange(10, 25), np.array([7])]


def _all_effects(att, Xq, yq):
    out = [att.leverage]
    tq = targets.loss(Xq, yq)
    for m in ("if", "rif", "newton", "retrain"):
        out += [att.effects(m, remove=SETS), att.effects(m, remove=SETS, target=tq)]
    for m in ("if", "rif"):
        out += [att.effects(m), att.effects(m, target=targets.prediction(Xq))]
    return out


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_kernel_sparse_equal_primal_dense(family, fit_intercept):
    X, y, sw = wide_data(family)
    Xs = sp.csr_matrix(X)
    kw = dict(family=family, l2=2.0, fit_intercept=fit_intercept, sample_weight=sw)
    ref = leaveout.fit(X, y, solver="primal", **kw)
    for Xa, solver in ((Xs, "kernel"), (Xs, "cg"), (X, "kernel"), (Xs, "primal")):
        m = leaveout.fit(Xa, y, solver=solver, **kw)
        assert m.solver_ == solver
        np.testing.assert_allclose(m.params_, ref.params_, rtol=1e-10, atol=1e-12)
        assert m.gradient_norm_ < 1e-12
    a_ref = leaveout.Attributor(ref, X, y, sw, solver="primal")
    expected = _all_effects(a_ref, X[:6], y[:6])
    for Xa, solver in ((Xs, "kernel"), (X, "kernel"), (Xs, "primal")):
        att = leaveout.Attributor(ref, Xa, y, sw, solver=solver)
        assert att.solver_ == solver
        got = _all_effects(att, sp.csr_matrix(X[:6]) if sp.issparse(Xa) else X[:6], y[:6])
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_kernel_leverage_matches_independent_bordered_system(fit_intercept):
    X, y, sw = wide_data("logistic", n=40, p=90, seed=3)
    lam = 0.7
    m = leaveout.fit(X, y, l2=lam, fit_intercept=fit_intercept, sample_weight=sw)
    att = leaveout.Attributor(m, sp.csr_matrix(X), y, sw, solver="kernel")
    eta = X @ m.coef_ + m.intercept_
    mu = 1 / (1 + np.exp(-eta))
    w = sw * mu * (1 - mu)
    A = np.sqrt(w)[:, None] * (X @ X.T) * np.sqrt(w)[None, :] + lam * np.eye(len(y))
    if fit_intercept:  # M = [[A + λI, u], [uᵀ, 0]], S = I − λ (M⁻¹)₁₁
        u = np.sqrt(w)
        M = np.block([[A, u[:, None]], [u[None, :], np.zeros((1, 1))]])
        S = np.eye(len(y)) - lam * np.linalg.inv(M)[:-1, :-1]
    else:
        S = np.eye(len(y)) - lam * np.linalg.inv(A)
    np.testing.assert_allclose(att.leverage, np.diag(S), rtol=1e-10, atol=1e-13)


def test_no_code_path_densifies_sparse_X(monkeypatch):
    """Every method on a sparse X with a removal set, targets and retraining: no toarray or
    todense of a matrix as large as X (n × p) — only of products (n × n blocks, k × k)."""
    n, p = 30, 800  # p > solvers.PRIMAL_MAX: auto takes the kernel form
    X, y, sw = wide_data("logistic", n=n, p=p, density=0.02, seed=5)
    Xs = sp.csr_matrix(X)
    calls = []

    def guard(original):
        def wrapped(self, *args, **kwargs):
            calls.append(self.shape)
            if self.shape[0] * self.shape[1] >= n * p // 2:
                raise AssertionError(f"densified a {self.shape} sparse matrix")
            return original(self, *args, **kwargs)
        return wrapped

    for cls in {type(Xs), sp.csc_matrix, sp.csr_array, sp.csc_array, sp.coo_matrix}:
        monkeypatch.setattr(cls, "toarray", guard(cls.toarray))
        monkeypatch.setattr(cls, "todense", guard(cls.todense))
    m = leaveout.fit(Xs, y, l2=1.0, sample_weight=sw)
    att = leaveout.Attributor(m, Xs, y, sw)
    assert att.solver_ == "kernel"
    tq = targets.loss(Xs[:5], y[:5], reduce="sum")
    for meth in ("if", "rif", "newton", "retrain"):
        assert np.all(np.isfinite(att.effects(meth, remove=[[1, 2, 3], [4]], target=tq)))
        assert np.all(np.isfinite(att.effects(meth, remove=[1, 2, 3])))
    assert np.all(np.isfinite(att.effects("rif", target=targets.prediction(Xs[:5]))))
    assert np.all(np.isfinite(att.leverage))
    assert np.all(np.isfinite(m.predict(Xs)))
    assert calls  # the guard was in place


def test_auto_choice_and_reason():
    X, y, _ = wide_data("logistic", n=40, p=600)
    assert leaveout.fit(X, y).solver_ == "kernel"
    att = leaveout.Attributor(leaveout.fit(X, y), sp.csr_matrix(X), y)
    assert att.solver_ == "kernel" and "n = 40 < p = 601" in att.solver_reason_
    Xn, yn, _ = wide_data("logistic", n=200, p=10)
    assert leaveout.Attributor(leaveout.fit(Xn, yn), Xn, yn).solver_ == "primal"
    assert leaveout.fit(Xn, yn, l2=0.0).solver_ == "primal"


def test_kernel_with_l2_zero_is_refused():
    X, y, _ = wide_data("squared", n=60, p=20)
    with pytest.raises(ValueError, match="solver='kernel' needs l2 > 0"):
        leaveout.fit(X, y, family="squared", l2=0.0, solver="kernel")
    with pytest.raises(ValueError, match="The 'solver' parameter of Attributor must be one of"):
        leaveout.Attributor(leaveout.fit(X, y, family="squared"), X, y, solver="dense")


def test_too_large_refused_with_numbers_and_alternative(monkeypatch):
    X, y, _ = wide_data("logistic", n=40, p=300)
    m = leaveout.fit(X, y)
    monkeypatch.setattr(solvers, "MEMORY_LIMIT", 8 * 300 * 300)  # below 2p², above 3n²
    with pytest.raises(ProblemTooLargeError, match=r"The primal form .* solver='kernel' would"):
        leaveout.Attributor(m, X, y, solver="primal")
    att = leaveout.Attributor(m, X, y)  # auto takes the kernel form, which fits
    assert att.solver_ == "kernel"
    # All-row parameter effects (n × p) are refused when too large; targets and sets work.
    monkeypatch.setattr(solvers, "MEMORY_LIMIT", 8 * 40 * 301)
    with pytest.raises(ProblemTooLargeError, match="Ask for the effects on a target instead"):
        att.effects("rif")
    assert att.effects("rif", target=targets.prediction(X[:3])).shape == (40, 3)
    assert att.effects("newton", remove=[1, 2]).shape == (301,)
    assert issubclass(ProblemTooLargeError, MemoryError)


def test_sparse_wide_fit_reaches_rounding_level_gradient():
    """A wide sparse logistic fit by CG-Newton: the gradient, recomputed here, is at rounding."""
    X, y, _ = wide_data("logistic", n=600, p=5000, density=0.004, seed=9)
    Xs = sp.csr_matrix(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = leaveout.fit(Xs, y, l2=0.5)
    assert m.solver_ == "cg"
    eta = Xs @ m.coef_ + m.intercept_
    r = 1 / (1 + np.exp(-eta)) - y
    g = np.r_[Xs.T @ r + 0.5 * m.coef_, r.sum()]
    assert np.abs(g).max() < 1e-12


def test_loo_and_glmcv_on_sparse_wide_data_match_dense_primal():
    X, y, sw = wide_data("logistic", n=40, p=700, seed=11)
    sw[3] = 0.0  # a zero-weight row: its q is solved for directly
    m = leaveout.fit(X, y, l2=1.5, sample_weight=sw)
    a_ref = leaveout.Attributor(m, X, y, sw, solver="primal")
    att = leaveout.Attributor(m, sp.csr_matrix(X), y, sw)
    assert att.solver_ == "kernel"
    np.testing.assert_allclose(att.loo_linear_predictor("rif"),
                               a_ref.loo_linear_predictor("rif"), rtol=1e-9, atol=1e-11)
    cv = leaveout.GLMCV(l2s=[0.5, 5.0]).fit(sp.csr_matrix(X), y)
    cv_ref = leaveout.GLMCV(l2s=[0.5, 5.0]).fit(X, y)
    np.testing.assert_allclose(cv.loo_risk_, cv_ref.loo_risk_, rtol=1e-9)


@pytest.mark.parametrize("n", [1, 255, 700])
def test_blocked_cholesky_and_inverse_norms(n, monkeypatch):
    """The kernel form's blocked factorisation equals LAPACK's to rounding (scipy.linalg), and
    gives the same bits on one and on two chunk workers."""
    from scipy import linalg

    from leaveout import _threads
    from leaveout.solvers._blocked import cholesky_inplace, inverse_column_norms

    rng = np.random.default_rng(n)
    G = rng.normal(size=(n, n + 5))
    A = G @ G.T / n + 0.3 * np.eye(n)
    ref = linalg.cholesky(A, lower=True)
    ref_diag = np.diag(linalg.inv(A))
    results = []
    for workers in (1, 2):
        monkeypatch.setattr(_threads, "_workers", workers)
        L = np.tril(cholesky_inplace(np.asfortranarray(A.copy())))
        results.append((L, inverse_column_norms(L)))
    np.testing.assert_allclose(results[0][0], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(results[0][1], ref_diag, rtol=1e-11)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    with pytest.raises(linalg.LinAlgError):
        cholesky_inplace(np.asfortranarray(A - 2 * np.eye(n) * np.abs(A).max()))
