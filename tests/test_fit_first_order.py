"""The Hessian-free first phase of the fit (L-BFGS on fused sweeps over X) on designs big enough
to use it: the same exact optimum as an independent Newton fit (tests/reference.py), the gradient
at rounding level, Newton taking over where L-BFGS does not converge, and the rule that decides
whether the final Hessian is computed (and kept for an Attributor)."""

import warnings

import numpy as np
import pytest

import leaveout
from leaveout import fitting
import reference as ref


def _spy(monkeypatch):
    """Record every L-BFGS run's `converged` flag."""
    runs, original = [], fitting.lbfgs

    def spy(*a, **k):
        res = original(*a, **k)
        runs.append(res.converged)
        return res

    monkeypatch.setattr(fitting, "lbfgs", spy)
    return runs


def _gradient(X, y, theta, family, l2, s, fit_intercept):
    Xt = ref.design(X, fit_intercept)
    return ref.gradient(theta, Xt, y, family, l2, fit_intercept, s)


@pytest.mark.parametrize("family", ref.FAMILIES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_first_order_fit_reaches_the_reference_optimum(monkeypatch, family, fit_intercept):
    X, y = ref.make_data(family, n=3000, p=100, seed=4)
    s = np.random.default_rng(1).uniform(0.5, 2.0, size=3000)
    runs = _spy(monkeypatch)
    m = leaveout.fit(X, y, family=family, l2=2.0, fit_intercept=fit_intercept, sample_weight=s)
    assert runs == [True]  # the first-order path ran and converged
    theta = ref.fit_theta(ref.design(X, fit_intercept), y, family, 2.0, fit_intercept, s)
    np.testing.assert_allclose(m.params_, theta, rtol=0, atol=1e-10 * np.abs(theta).max())
    g = _gradient(X, y, m.params_, family, 2.0, s, fit_intercept)
    scale = np.abs(X).sum() + len(y)
    assert np.linalg.norm(g) < 1e-12 * scale
    assert m.gradient_norm_ < 1e-12 * scale
    # The objective reported is L at the returned θ (the line search computes L only when
    # slopes cannot decide; the value returned is then made from η).
    Xt = ref.design(X, fit_intercept)
    obj = ref.objective(m.params_, Xt, y, family, 2.0, fit_intercept, s)
    assert abs(m.objective_ - obj) <= 1e-12 * abs(obj)


def test_no_hessian_is_added_after_a_converged_lbfgs(monkeypatch):
    from leaveout._linear import LinearLoss

    # (A Newton fit keeps its final Hessian: tests/test_attributor.py.)
    runs = _spy(monkeypatch)
    # A converged first-order fit adds no Hessian (5+ sweeps, +40-60 % of the fit at p = 100),
    # at p = 100 as at p = 600 ...
    for n, p, seed in [(3000, 100, 5), (1200, 600, 6)]:
        X, y = ref.make_data("logistic", n=n, p=p, seed=seed)
        runs.clear()
        m = leaveout.fit(X, y, l2=1.0)
        assert runs == [True] and m._fit_cache is None
        theta = ref.fit_theta(ref.design(X, True), y, "logistic", 1.0, True)
        np.testing.assert_allclose(m.params_, theta, rtol=0, atol=1e-10 * np.abs(theta).max())
        # ... and the Attributor computes it: effects as with a fresh Newton fit.  θ̂ is the
        # fit's to rounding, so the polish keeps it as it is (no Newton step, one sweep).
        sweeps, original = [], LinearLoss.objective_and_gradient
        monkeypatch.setattr(LinearLoss, "objective_and_gradient",
                            lambda self, *a, **k: sweeps.append(1) or original(self, *a, **k))
        att = leaveout.Attributor(m, X, y)
        monkeypatch.setattr(LinearLoss, "objective_and_gradient", original)
        assert len(sweeps) == 1 and att.polish_shift_ == 0.0
        assert np.array_equal(att.params_, m.params_)
        refs = ref.Reference(X, y, "logistic", 1.0, True)
        np.testing.assert_allclose(att.leverage, refs.leverage(), rtol=1e-6, atol=1e-12)


def test_newton_takes_over_when_lbfgs_does_not_converge(monkeypatch):
    # Nearly collinear pairs of columns and a tiny penalty: condition number ~1e9, far beyond
    # what 60 L-BFGS iterations resolve.
    rng = np.random.default_rng(7)
    Z = rng.standard_normal((3000, 50))
    X = np.column_stack([Z, Z + 1e-4 * rng.standard_normal((3000, 50))])
    y = Z @ rng.standard_normal(50) + rng.standard_normal(3000)
    runs = _spy(monkeypatch)
    m = leaveout.fit(X, y, family="squared", l2=1e-6)
    assert runs == [False]
    theta = ref.fit_theta(ref.design(X, True), y, "squared", 1e-6, True)
    np.testing.assert_allclose(m.params_, theta, rtol=0, atol=1e-7 * np.abs(theta).max())
    g = _gradient(X, y, m.params_, "squared", 1e-6, np.ones(3000), True)
    assert np.linalg.norm(g) < 1e-12 * (np.abs(X).sum() + np.abs(y).sum())


def test_retraining_on_a_big_design_is_exact(monkeypatch):
    X, y = ref.make_data("poisson", n=3000, p=100, seed=8)
    att = leaveout.Attributor(leaveout.fit(X, y, family="poisson", l2=1.0), X, y)
    runs = _spy(monkeypatch)
    T = np.arange(0, 3000, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        delta = att.effects("retrain", remove=T)
    assert runs == [True]
    keep = np.setdiff1d(np.arange(3000), T)
    theta = ref.fit_theta(ref.design(X[keep], True), y[keep], "poisson", 1.0, True)
    np.testing.assert_allclose(att.params_ + delta, theta, rtol=0,
                               atol=1e-9 * np.abs(theta).max())


@pytest.mark.parametrize("family", ref.FAMILIES)
def test_slow_lbfgs_is_preconditioned_by_a_hessian(monkeypatch, caplog, family):
    # Uncentred features (uniform on [0, 1]): the intercept and the columns' common mean make
    # the diagonally scaled Hessian ill-conditioned, and L-BFGS alone crawls (it does not
    # converge in LBFGS_MAX_ITER iterations here).  Its rate after PRECOND_MIN_ITER iterations
    # calls for the Hessian as preconditioner: converged, at the reference optimum (an
    # independent Newton fit), the gradient at rounding level.
    rng = np.random.default_rng(9)
    X = rng.random((3000, 100))
    y = ref.make_data(family, n=3000, p=100, seed=9)[1]
    runs = _spy(monkeypatch)
    with caplog.at_level("INFO", logger="leaveout.fitting"):
        m = leaveout.fit(X, y, family=family, l2=1.0)
    assert runs == [True]
    assert any("preconditions" in r.getMessage() for r in caplog.records)
    theta = ref.fit_theta(ref.design(X, True), y, family, 1.0, True)
    np.testing.assert_allclose(m.params_, theta, rtol=0, atol=1e-10 * np.abs(theta).max())
    g = _gradient(X, y, m.params_, family, 1.0, np.ones(3000), True)
    assert np.linalg.norm(g) < 1e-12 * (np.abs(X).sum() + np.abs(y).sum())
