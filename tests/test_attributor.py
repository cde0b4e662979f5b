"""Attributor: shapes, closed forms, statsmodels at λ = 0, scikit-learn adoption, warnings."""

import warnings

import numpy as np
import pytest

import leaveout
from leaveout import targets
from conftest import make_data

METHODS = leaveout.METHODS


@pytest.fixture(scope="module")
def logistic_att():
    X, y = make_data("logistic", n=90, p=6, seed=1)
    return leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y), X, y


def test_shapes(logistic_att):
    att, X, y = logistic_att
    n, p = X.shape[0], X.shape[1] + 1
    assert att.leverage.shape == (n,)
    for m in METHODS:
        assert att.effects(m, remove=[1, 2]).shape == (p,)
        assert att.effects(m, remove=[[1, 2], [3], []]).shape == (3, p)
    assert att.effects("rif").shape == (n, p)
    t = targets.prediction(X[:4])
    assert att.effects("rif", target=t).shape == (n, 4)
    assert att.effects("newton", remove=[0, 5], target=t).shape == (4,)
    assert att.effects("retrain", remove=[[0], [5, 6]], target=t).shape == (2, 4)
    ts = targets.loss(X[:4], y[:4], reduce="sum")
    assert att.effects("if", target=ts).shape == (n,)
    assert np.ndim(att.effects("retrain", remove=[3], target=ts)) == 0
    assert att.effects("rif", remove=[[3], [4]], target=ts).shape == (2,)


def test_boolean_mask_equals_indices(logistic_att):
    att, X, _ = logistic_att
    mask = np.zeros(X.shape[0], dtype=bool)
    mask[[4, 9]] = True
    np.testing.assert_array_equal(att.effects("newton", remove=mask),
                                  att.effects("newton", remove=[4, 9]))


def test_additivity_and_empty_set(logistic_att):
    att, _, _ = logistic_att
    T = [3, 11, 40]
    for m in ("if", "rif"):
        np.testing.assert_allclose(att.effects(m, remove=T), att.effects(m)[T].sum(axis=0),
                                   rtol=1e-12, atol=1e-15)
    for m in METHODS:
        np.testing.assert_array_equal(att.effects(m, remove=[]), 0.0)


def test_single_row_newton_equals_rif(logistic_att):
    att, _, _ = logistic_att
    rows = [[i] for i in range(10)]
    np.testing.assert_allclose(att.effects("newton", remove=rows),
                               att.effects("rif", remove=rows), rtol=1e-9, atol=1e-14)


def test_rif_is_if_over_one_minus_leverage(logistic_att):
    att, _, _ = logistic_att
    np.testing.assert_allclose(att.effects("rif"),
                               att.effects("if") / (1 - att.leverage)[:, None], rtol=1e-12)


def test_first_order_targets_equal_parameter_effects_times_gradient(logistic_att):
    att, X, y = logistic_att
    Xq, yq = X[:5], y[:5]
    theta = att.params_
    eta = Xq @ theta[:-1] + theta[-1]
    # ∇ of the per-row loss ℓ(η_q, y_q) with respect to θ, written out by hand.
    J = np.column_stack([Xq, np.ones(5)]) * (1 / (1 + np.exp(-eta)) - yq)[:, None]
    for m in ("if", "rif", "newton"):
        np.testing.assert_allclose(att.effects(m, target=targets.loss(Xq, yq), linearize=True),
                                   att.effects(m) @ J.T, rtol=1e-10, atol=1e-14)


def test_retrain_target_is_exact_change(logistic_att):
    att, X, y = logistic_att
    T = [2, 7, 19]
    keep = np.setdiff1d(np.arange(len(y)), T)
    refit = leaveout.fit(X[keep], y[keep], l2=1.0)
    t = targets.prediction(X[:3])
    np.testing.assert_allclose(att.effects("retrain", remove=T, target=t),
                               refit.predict(X[:3]) - att.model_.predict(X[:3]), rtol=1e-8)


def test_squared_newton_equals_retrain_and_rif_equals_loo():
    # Closed forms for squared loss: the Newton step is exact for any set, RIF for one row.
    X, y = make_data("squared", n=60, p=10, seed=3)
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=0.3), X, y)
    rng = np.random.default_rng(0)
    sets = [rng.choice(60, size=k, replace=False) for k in (1, 3, 8, 20)]
    np.testing.assert_allclose(att.effects("newton", remove=sets),
                               att.effects("retrain", remove=sets), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(att.effects("rif"), att.effects("retrain"), rtol=1e-8,
                               atol=1e-12)


@pytest.mark.parametrize("family", ["logistic", "squared", "poisson"])
def test_statsmodels_at_zero_penalty(family):
    # Reference: statsmodels GLMInfluence (observed information). d_params = θ̂ − θ̂₋i = −RIF.
    sm = pytest.importorskip("statsmodels.api")
    X, y = make_data(family, n=80, p=4, seed=5)
    Xc = np.column_stack([X, np.ones(len(y))])
    fam = {"logistic": sm.families.Binomial(), "squared": sm.families.Gaussian(),
           "poisson": sm.families.Poisson()}[family]
    res = sm.GLM(y, Xc, family=fam).fit(tol=1e-14, maxiter=200)
    infl = res.get_influence(observed=True)
    att = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=0.0), X, y)
    np.testing.assert_allclose(att.params_, res.params, rtol=1e-7)
    np.testing.assert_allclose(att.leverage, infl.hat_matrix_diag, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(att.effects("rif"), -infl.d_params, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("make", ["logreg", "ridge", "linreg", "poisson"])
def test_adopted_sklearn_models_match_leaveout_fit(make):
    lm = pytest.importorskip("sklearn.linear_model")
    fam = {"logreg": "logistic", "ridge": "squared", "linreg": "squared", "poisson": "poisson"}
    X, y = make_data(fam[make], n=100, p=5, seed=7)
    if make == "logreg":
        est, l2 = lm.LogisticRegression(C=0.5, max_iter=1000), 2.0
        labels = np.where(y == 1, "yes", "no")
        est.fit(X, labels)
    else:
        est, l2 = {"ridge": (lm.Ridge(alpha=3.0), 3.0), "linreg": (lm.LinearRegression(), 0.0),
                   "poisson": (lm.PoissonRegressor(alpha=0.02, max_iter=1000), 0.02 * 100)}[make]
        labels = y
        est.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", leaveout.PolishWarning)
        a = leaveout.Attributor(est, X, labels)
    b = leaveout.Attributor(leaveout.fit(X, y, family=fam[make], l2=l2), X, y)
    assert a.l2 == pytest.approx(l2)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.leverage, b.leverage, rtol=1e-8, atol=1e-14)
    for m in ("if", "rif"):
        np.testing.assert_allclose(a.effects(m), b.effects(m), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(a.effects("newton", remove=[1, 2, 3]),
                               b.effects("newton", remove=[1, 2, 3]), rtol=1e-7, atol=1e-12)


def test_polish_warning_for_an_early_stopped_sklearn_model():
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = make_data("logistic", n=200, p=5, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = lm.LogisticRegression(max_iter=1, tol=1e-1).fit(X, y)
    # Moved by ≈ 0.36 (relative): more than POLISH_ERROR = 0.1, so it is not taken as a polish.
    with pytest.raises(leaveout.ModelMismatchError, match="refit_ok=True"):
        leaveout.Attributor(est, X, y)
    with pytest.warns(leaveout.PolishWarning, match="stopped early"):
        att = leaveout.Attributor(est, X, y, refit_ok=True)
    assert att.polish_shift_ > 0.1
    np.testing.assert_allclose(att.params_, leaveout.fit(X, y, l2=1.0).params_, rtol=1e-8)
    # A smaller shift (3 iterations: ≈ 0.013) still only warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est3 = lm.LogisticRegression(max_iter=3, tol=1e-4).fit(X, y)
    with pytest.warns(leaveout.PolishWarning, match="stopped early"):
        att3 = leaveout.Attributor(est3, X, y)
    assert 1e-4 < att3.polish_shift_ < 0.1


def test_class_weight_becomes_sample_weight():
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = make_data("logistic", n=150, p=4, seed=4)
    est = lm.LogisticRegression(class_weight={0: 1.0, 1: 3.0}, tol=1e-12, max_iter=1000)
    est.fit(X, y)
    att = leaveout.Attributor(est, X, y)
    ref = leaveout.fit(X, y, l2=1.0, sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(att.params_, ref.params_, rtol=1e-10)
    assert att.polish_shift_ < 1e-5


def test_high_leverage_row_warns_and_names_it():
    # Row 0 is the only one with a nonzero in column 1; with l2 = 0 removing it is singular.
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=30), np.zeros(30)])
    X[0, 1] = 1.0
    y = X[:, 0] + rng.normal(size=30)
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=0.0), X, y)
    assert att.leverage[0] == pytest.approx(1.0)
    with pytest.warns(leaveout.HighLeverageWarning, match=r"row\(s\) 0 "):
        eff = att.effects("rif")
    assert np.isnan(eff[0]).all() and np.isfinite(eff[1:]).all()
    with pytest.warns(leaveout.HighLeverageWarning, match="singular"):
        nw = att.effects("newton", remove=[0, 1])
    assert np.isnan(nw).all()


@pytest.mark.parametrize("family", ["logistic", "poisson", "squared"])
def test_newton_for_sets_larger_than_p_matches_woodbury_regime(family):
    # Sets with k > p use a direct factorisation of H − H_T; compare to retrain (squared: exact)
    # and to the Woodbury path on the same set split in a way that stays below p.
    X, y = make_data(family, n=150, p=4, seed=9)
    att = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=1.0), X, y)
    T = np.arange(0, 150, 3)  # 50 rows > 5 parameters
    big = att.effects("newton", remove=T)
    # Reference: the Newton step written out with numpy on the retained data.
    A = np.column_stack([X, np.ones(150)])
    fam = leaveout.FAMILIES[family]
    eta = A @ att.params_
    keep = np.setdiff1d(np.arange(150), T)
    H_ret = A[keep].T @ (A[keep] * fam.d2(eta[keep], y[keep])[:, None]) + np.diag([1.0] * 4 + [0])
    ref = np.linalg.solve(H_ret, A[T].T @ fam.d1(eta[T], y[T]))
    np.testing.assert_allclose(big, ref, rtol=1e-9, atol=1e-12)
    if family == "squared":
        np.testing.assert_allclose(big, att.effects("retrain", remove=T), rtol=1e-8)


def test_removing_a_whole_class_gives_nan_with_a_warning():
    X, y = make_data("logistic", n=40, p=3, seed=2)
    y[:] = 0.0
    y[[5]] = 1.0  # a single positive row: removing it alone leaves one class
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    with pytest.warns(leaveout.DegenerateRemovalWarning, match=r"row\(s\) 5 alone"):
        eff = att.effects("rif")
    assert np.isnan(eff[5]).all() and np.isfinite(np.delete(eff, 5, axis=0)).all()
    with pytest.warns(leaveout.DegenerateRemovalWarning, match="set 0"):
        out = att.effects("if", remove=[[5, 6], [7]])
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


def test_construction_reuses_the_polish_hessian_and_matches_a_fresh_one(monkeypatch):
    from leaveout._linear import LinearLoss
    from leaveout.estimators import FittedState

    import pickle

    X, y = make_data("logistic", n=300, p=20, seed=12)
    # Unpickled, the GLM has no fit cache (see the next test), so the Attributor polishes.
    model = pickle.loads(pickle.dumps(leaveout.fit(X, y, l2=0.5)))
    calls = []
    original = LinearLoss.hessian
    monkeypatch.setattr(LinearLoss, "hessian",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    att = leaveout.Attributor(model, X, y)
    assert len(calls) == 1  # the polish's Newton step; none again at the optimum
    monkeypatch.setattr(LinearLoss, "hessian", original)
    fresh = FittedState(att._state.loss, att.params_)  # H recomputed at θ̂ exactly
    np.testing.assert_allclose(att._state.H, fresh.H, rtol=1e-12, atol=0)
    np.testing.assert_allclose(att.leverage, fresh.leverage, rtol=1e-10)
    np.testing.assert_allclose(att.effects("rif"), fresh.per_row("rif"), rtol=1e-10, atol=1e-16)


@pytest.mark.parametrize("family", ["logistic", "squared", "poisson"])
def test_attributor_reuses_the_fits_hessian_on_the_same_data_only(monkeypatch, family):
    from leaveout._linear import LinearLoss
    from leaveout.estimators import FittedState

    X, y = make_data(family, n=300, p=20, seed=13)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, size=300)
    model = leaveout.fit(X, y, family=family, l2=0.5, sample_weight=sw)
    calls = []
    original = LinearLoss.hessian
    monkeypatch.setattr(LinearLoss, "hessian",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    att = leaveout.Attributor(model, X.copy(), y.copy(), sw.copy())
    assert calls == []  # the fit's final Hessian and factor, not recomputed
    monkeypatch.setattr(LinearLoss, "hessian", original)
    fresh = FittedState(att._state.loss, att.params_)  # H recomputed at θ̂
    np.testing.assert_allclose(att._state.H, fresh.H, rtol=0, atol=1e-12 * np.abs(fresh.H).max())
    np.testing.assert_allclose(att.effects("rif"), fresh.per_row("rif"), rtol=1e-10, atol=1e-16)
    # Other data — one entry of X, a label, a weight — are detected: polished and recomputed.
    X2 = X.copy()
    X2[7, 3] += 1e-9
    y2 = y.copy()
    y2[4] = y2[4] + 0.5 if family != "logistic" else 1.0 - y2[4]
    sw2 = sw.copy()
    sw2[9] *= 1.0 + 1e-12
    for data in ((X2, y, sw), (X, y2, sw), (X, y, sw2)):
        monkeypatch.setattr(LinearLoss, "hessian",
                            lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", leaveout.PolishWarning)
            att2 = leaveout.Attributor(model, *data)
        monkeypatch.setattr(LinearLoss, "hessian", original)
        assert calls, "changed data must not reuse the fit's Hessian"
        calls.clear()
        ref = leaveout.Attributor(leaveout.fit(data[0], data[1], family=family, l2=0.5,
                                               sample_weight=data[2]), *data)
        np.testing.assert_allclose(att2.effects("rif"), ref.effects("rif"), rtol=1e-8,
                                   atol=1e-14)
