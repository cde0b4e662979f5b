"""GLMCV: penalty chosen by leave-one-out risk, against independent references.

References: the written-out ALO risk on the reference optimum of ``tests/reference.py`` (a
cold-start fit per penalty, dense solves), scikit-learn's ``RidgeCV`` (efficient exact
leave-one-out for ridge; ``alpha`` = our ``l2``, its ``cv_results_`` are squared errors, so our
risk — the mean of (y − η₋ᵢ)²/2 — is half their mean), and exact refits.
"""

import importlib.util
import pathlib
import warnings

import numpy as np
import pytest

import leaveout
from leaveout.cv import PathFitWarning

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import RidgeCV  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "leaveout_tests_reference_cv", pathlib.Path(__file__).with_name("reference.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)


def reference_alo_risk(fam, X, y, s, l2, fi):
    """Σ s_i ℓ(η₋ᵢ, y_i) / Σ s_i with η₋ᵢ = η_i + r_i q_i / (1 − h_i), written out."""
    Xt = R.design(X, fi)
    s = np.ones(len(y)) if s is None else s
    theta = R.fit_theta(Xt, y, fam, l2, fi, s)
    H = R.hessian(theta, Xt, y, fam, l2, fi, s)
    eta = Xt @ theta
    q = np.einsum("ij,ji->i", Xt, np.linalg.solve(H, Xt.T))
    h = s * R.d2loss(fam, eta, y) * q
    eta_loo = eta + s * R.dloss(fam, eta, y) * q / (1 - h)
    return float(np.sum(s * R.loss(fam, eta_loo, y)) / s.sum())


@pytest.mark.parametrize("fam,weighted,fi", [("logistic", False, True), ("logistic", True, True),
                                             ("poisson", True, False), ("squared", False, True)])
def test_loo_risk_equals_reference_at_every_penalty(fam, weighted, fi):
    X, y = R.make_data(fam, n=60, p=20, seed=3)
    s = np.random.default_rng(4).uniform(0.3, 2.0, 60) if weighted else None
    l2s = [30.0, 3.0, 0.3, 0.03]
    cv = leaveout.GLMCV(family=fam, l2s=l2s, fit_intercept=fi).fit(X, y, sample_weight=s)
    ref = [reference_alo_risk(fam, X, y, s, l2, fi) for l2 in l2s]
    np.testing.assert_allclose(cv.loo_risk_, ref, rtol=1e-8)
    assert cv.l2_ == l2s[int(np.argmin(ref))]
    assert np.array_equal(cv.l2s_, l2s)
    # the kept model is the exact fit at l2_ (warm starts do not change the optimum)
    direct = leaveout.fit(X, y, family=fam, l2=cv.l2_, fit_intercept=fi, sample_weight=s)
    np.testing.assert_allclose(cv.params_, direct.params_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_squared_matches_ridgecv(fit_intercept, weighted):
    """Same chosen penalty as RidgeCV(alphas=l2s) and risk = RidgeCV's LOO MSE / 2 (with
    weights: RidgeCV's cv_results_ are s_i e_i², averaged over n, so ours = theirs · n / Σs / 2)."""
    rng = np.random.default_rng(5)
    n, p = 70, 40
    X = rng.normal(size=(n, p)) + 1.5
    y = X @ rng.normal(size=p) * 0.3 + 2 * rng.normal(size=n) + 1.0
    s = rng.uniform(0.2, 3.0, n) if weighted else None
    cv = leaveout.GLMCV(family="squared", fit_intercept=fit_intercept).fit(X, y, s)
    ridge = RidgeCV(alphas=cv.l2s_, fit_intercept=fit_intercept, store_cv_results=True).fit(
        X, y, sample_weight=s)
    assert ridge.alpha_ == cv.l2_
    factor = 1.0 if s is None else n / s.sum()
    np.testing.assert_allclose(cv.loo_risk_, ridge.cv_results_.mean(axis=0) * factor / 2,
                               rtol=1e-9)
    np.testing.assert_allclose(cv.coef_, ridge.coef_, rtol=1e-7, atol=1e-10)


def test_retrain_method_is_exact_leave_one_out():
    """method="retrain" scores by n exact refits: equal to a written-out leave-one-out loop."""
    X, y = R.make_data("logistic", n=30, p=6, seed=6)
    l2s = [5.0, 0.5]
    cv = leaveout.GLMCV(l2s=l2s, method="retrain").fit(X, y)
    Xt = R.design(X, True)
    for k, l2 in enumerate(l2s):
        losses = []
        for i in range(30):
            keep = np.arange(30) != i
            th = R.fit_theta(Xt[keep], y[keep], "logistic", l2, True)
            losses.append(R.loss("logistic", Xt[i] @ th, y[i]))
        np.testing.assert_allclose(cv.loo_risk_[k], np.mean(losses), rtol=1e-7)
    rif = leaveout.GLMCV(l2s=l2s).fit(X, y)
    np.testing.assert_allclose(rif.loo_risk_, cv.loo_risk_, rtol=0.02)  # ALO is close


def test_default_path_follows_the_data_scale():
    X, y = R.make_data("logistic", n=80, p=5, seed=7)
    a = leaveout.GLMCV().fit(X, y)
    b = leaveout.GLMCV().fit(X * 10, y)
    assert a.l2s_.size == 25 and np.all(np.diff(a.l2s_) < 0)
    np.testing.assert_allclose(b.l2s_, a.l2s_ * 100, rtol=1e-12)
    np.testing.assert_allclose(b.loo_risk_, a.loo_risk_, rtol=1e-7)  # same problems, rescaled
    np.testing.assert_allclose(a.l2s_[0] / a.l2s_[-1], 1e6)


def test_sklearn_protocol():
    X, y = R.make_data("logistic", n=80, p=5, seed=8)
    est = leaveout.GLMCV(family="logistic", l2s=[10.0, 1.0, 0.1])
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    assert est.set_params(method="if") is est and est.method == "if"
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(alpha=1)
    pipe = make_pipeline(StandardScaler(), leaveout.GLMCV(l2s=[10.0, 1.0, 0.1])).fit(X, y)
    Xs = StandardScaler().fit(X).transform(X)
    direct = leaveout.GLMCV(l2s=[10.0, 1.0, 0.1]).fit(Xs, y)
    np.testing.assert_allclose(pipe.predict(X), direct.predict(Xs), rtol=1e-12)
    assert pipe.score(X, y) == pytest.approx(-np.mean(direct.loss(Xs, y)))
    gs = GridSearchCV(leaveout.GLMCV(l2s=[10.0, 1.0]), {"method": ["if", "rif"]}, cv=3)
    gs.fit(X, y)
    assert gs.best_params_["method"] in ("if", "rif")
    with pytest.raises(ValueError, match="not fitted yet"):
        leaveout.GLMCV().predict(X)


def test_attributor_adopts_glmcv_at_its_penalty():
    X, y = R.make_data("logistic", n=60, p=5, seed=9)
    cv = leaveout.GLMCV(l2s=[10.0, 1.0, 0.1]).fit(X, y)
    att = leaveout.Attributor(cv, X, y)
    assert att.l2 == cv.l2_
    np.testing.assert_allclose(att.params_, cv.params_, rtol=1e-10)


def test_failed_penalties_are_skipped_with_a_warning():
    """p > n least squares with l2 = 0 has no unique optimum: that penalty is skipped."""
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(20, 30)), rng.normal(size=20)
    with pytest.warns(PathFitWarning, match="could not fit 1 of 3 penalties"):
        cv = leaveout.GLMCV(family="squared", l2s=[1.0, 0.0, 10.0]).fit(X, y)
    assert np.isnan(cv.loo_risk_[1]) and np.isfinite(cv.loo_risk_[[0, 2]]).all()
    with pytest.raises(ValueError, match="could not score any"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        leaveout.GLMCV(family="squared", l2s=[0.0]).fit(X, y)


@pytest.mark.parametrize("l2s,exc,match", [
    ([], ValueError, "is empty"),
    ([1.0, -0.5], ValueError, "contains negative penalties"),
    ([1.0, np.nan], ValueError, "contains NaN or inf"),
    ([np.inf], ValueError, "contains NaN or inf"),
    ([[1.0, 2.0]], ValueError, "must be 1-D"),
    (["a", "b"], TypeError, "must hold numbers"),
    (1.0, TypeError, "must be None or a 1-D sequence"),
])
def test_bad_penalty_paths(l2s, exc, match):
    X, y = R.make_data("logistic", n=30, p=3, seed=11)
    with pytest.raises(exc, match=match):
        leaveout.GLMCV(l2s=l2s).fit(X, y)


def test_bad_method_and_family():
    X, y = R.make_data("logistic", n=30, p=3, seed=11)
    with pytest.raises(ValueError, match="Unknown method"):
        leaveout.GLMCV(method="kfold").fit(X, y)
    with pytest.raises(ValueError, match="Unknown family"):
        leaveout.GLMCV(family="gamma").fit(X, y)
