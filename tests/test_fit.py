"""The exact fit: optimality, closed forms, scikit-learn agreement, weights."""

import numpy as np
import pytest

import leaveout
from conftest import make_data


def _objective_grad(X, y, theta, family, l2, sw=None, fit_intercept=True):
    # Independent gradient of Σ s ℓ + l2/2 ||β||² (intercept last).
    fam = leaveout.FAMILIES[family]
    Xt = np.column_stack([X, np.ones(len(y))]) if fit_intercept else X
    sw = np.ones(len(y)) if sw is None else sw
    pen = np.full(Xt.shape[1], l2)
    if fit_intercept:
        pen[-1] = 0
    return Xt.T @ (sw * fam.d1(Xt @ theta, y)) + pen * theta


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_gradient_at_rounding_level(family, fit_intercept):
    X, y = make_data(family)
    m = leaveout.fit(X, y, family=family, l2=0.5, fit_intercept=fit_intercept)
    g = _objective_grad(X, y, m.params_, family, 0.5, fit_intercept=fit_intercept)
    scale = np.abs(X).sum() + len(y)
    assert np.linalg.norm(g) < 1e-12 * scale
    assert m.gradient_norm_ < 1e-12 * scale
    assert m.params_.shape == (X.shape[1] + fit_intercept,)
    assert (m.intercept_ == 0.0) != fit_intercept or family == "none"


def test_squared_matches_closed_form_ridge():
    # Reference: normal equations (X̃ᵀX̃ + λP) θ = X̃ᵀy, solved with numpy.
    X, y = make_data("squared", n=80, p=5)
    Xt = np.column_stack([X, np.ones(80)])
    P = np.diag([1.0] * 5 + [0.0])
    theta = np.linalg.solve(Xt.T @ Xt + 2.0 * P, Xt.T @ y)
    m = leaveout.fit(X, y, family="squared", l2=2.0)
    np.testing.assert_allclose(m.params_, theta, rtol=1e-12)


def test_logistic_matches_sklearn():
    # Reference: scikit-learn LogisticRegression(C=1/l2) with a tight tolerance.
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = make_data("logistic", n=200, p=6)
    sk = lm.LogisticRegression(C=0.5, tol=1e-12, max_iter=10000).fit(X, y)
    m = leaveout.fit(X, y, family="logistic", l2=2.0)
    np.testing.assert_allclose(m.coef_, sk.coef_[0], rtol=1e-6)
    np.testing.assert_allclose(m.intercept_, sk.intercept_[0], rtol=1e-6)


def test_poisson_matches_sklearn():
    # PoissonRegressor(alpha) minimises mean deviance/2 + alpha/2 ||β||²  →  l2 = alpha · n.
    lm = pytest.importorskip("sklearn.linear_model")
    X, y = make_data("poisson", n=150, p=4)
    sk = lm.PoissonRegressor(alpha=0.01, tol=1e-12, max_iter=10000).fit(X, y)
    m = leaveout.fit(X, y, family="poisson", l2=0.01 * 150)
    np.testing.assert_allclose(m.coef_, sk.coef_, rtol=1e-6)


def test_duplicated_row_equals_weight_two(family):
    X, y = make_data(family, n=60, p=4)
    Xd, yd = np.vstack([X, X[:1]]), np.append(y, y[0])
    w = np.ones(60)
    w[0] = 2.0
    a = leaveout.fit(Xd, yd, family=family, l2=1.0)
    b = leaveout.fit(X, y, family=family, l2=1.0, sample_weight=w)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-10, atol=1e-12)


def test_zero_weight_equals_dropping_the_row(family):
    X, y = make_data(family, n=60, p=4)
    w = np.ones(60)
    w[3] = 0.0
    a = leaveout.fit(X, y, family=family, l2=1.0, sample_weight=w)
    b = leaveout.fit(np.delete(X, 3, 0), np.delete(y, 3), family=family, l2=1.0)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-10, atol=1e-12)


def test_predict_decision_function_loss():
    X, y = make_data("logistic")
    m = leaveout.fit(X, y)
    eta = X @ m.coef_ + m.intercept_
    np.testing.assert_allclose(m.decision_function(X), eta)
    np.testing.assert_allclose(m.predict(X), 1 / (1 + np.exp(-eta)))
    np.testing.assert_allclose(m.loss(X, y), np.logaddexp(0, eta) - y * eta)


def test_float32_input_is_computed_in_float64():
    X, y = make_data("squared")
    a = leaveout.fit(X.astype(np.float32), y, family="squared")
    b = leaveout.fit(X.astype(np.float32).astype(np.float64), y, family="squared")
    assert a.params_.dtype == np.float64
    np.testing.assert_array_equal(a.params_, b.params_)


def test_deterministic():
    X, y = make_data("logistic", n=300, p=20)
    a = leaveout.fit(X, y)
    b = leaveout.fit(X, y)
    np.testing.assert_array_equal(a.params_, b.params_)


def test_separable_without_penalty_raises():
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    with pytest.raises(leaveout.ConvergenceError, match="l2 > 0"):
        leaveout.fit(X, y, l2=0.0)


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = make_data("squared", p=3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    m = leaveout.fit(df, y, family="squared")
    assert list(m.feature_names_in_) == ["a", "b", "c"]


def test_glm_follows_the_sklearn_estimator_protocol():
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    X, y = make_data("squared", n=80, p=4, seed=3)
    g = leaveout.GLM(family="squared", l2=2.0, fit_intercept=False)
    assert g.get_params() == {"family": "squared", "l2": 2.0, "fit_intercept": False,
                              "max_iter": 100, "solver": "auto"}
    c = clone(g)
    assert c is not g and c.get_params() == g.get_params() and not hasattr(c, "params_")
    assert g.set_params(l2=5.0) is g and g.l2 == 5.0
    with pytest.raises(ValueError, match="Invalid parameter\\(s\\) \\['alpha'\\] for GLM"):
        g.set_params(alpha=1.0)
    search = GridSearchCV(leaveout.GLM(family="squared"), {"l2": [0.1, 10.0, 1000.0]},
                          scoring="neg_mean_squared_error", cv=3).fit(X, y)
    assert search.best_params_["l2"] in (0.1, 10.0, 1000.0)
    ref = leaveout.fit(X, y, family="squared", l2=search.best_params_["l2"])
    np.testing.assert_array_equal(search.best_estimator_.params_, ref.params_)


def test_glm_score_is_minus_the_mean_loss_and_drives_a_grid_search():
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = make_data("logistic", n=120, p=4, seed=5)
    m = leaveout.fit(X, y)
    np.testing.assert_allclose(m.score(X, y), -np.mean(m.loss(X, y)), rtol=1e-15)
    w = np.linspace(0.5, 2.0, 120)
    np.testing.assert_allclose(m.score(X, y, w), -np.average(m.loss(X, y), weights=w), rtol=1e-14)
    # log-loss equals scikit-learn's
    from sklearn.metrics import log_loss
    np.testing.assert_allclose(-m.score(X, y), log_loss(y, m.predict(X)), rtol=1e-10)
    assert cross_val_score(leaveout.GLM(), X, y, cv=3).shape == (3,)
    search = GridSearchCV(leaveout.GLM(), {"l2": [0.01, 1.0, 100.0]}, cv=3).fit(X, y)
    assert search.best_params_["l2"] in (0.01, 1.0, 100.0)
    assert repr(leaveout.GLM(max_iter=5)) == "GLM(family='logistic', l2=1.0, fit_intercept=True, max_iter=5)"
