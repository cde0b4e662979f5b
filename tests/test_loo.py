"""Leave-one-out linear predictors and self-influence (DESIGN.md §9) against references.

References that share no code with the library: the plain NumPy implementation in
``tests/reference.py`` (cold-start exact fits, explicit ``np.linalg.solve``), the closed-form
leave-one-out of least squares (n explicit refits by ``np.linalg.solve``) and the PRESS
residuals e_i / (1 − h_i).
"""

import importlib.util
import pathlib
import warnings

import numpy as np
import pytest

import leaveout
from leaveout import DegenerateRemovalWarning, HighLeverageWarning

_spec = importlib.util.spec_from_file_location(
    "leaveout_tests_reference_loo", pathlib.Path(__file__).with_name("reference.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

# (family, n, p, l2, fit_intercept, weighted, seed)
CASES = {
    "logistic": ("logistic", 70, 8, 1.0, True, False, 1),
    "logistic-weighted": ("logistic", 70, 8, 0.5, True, True, 2),
    "logistic-wide": ("logistic", 40, 60, 1.0, True, False, 3),
    "squared-nointercept": ("squared", 50, 6, 0.3, False, False, 4),
    "squared-weighted-wide": ("squared", 30, 45, 1.0, True, True, 5),
    "poisson": ("poisson", 60, 7, 1.0, True, False, 6),
    "poisson-weighted": ("poisson", 60, 7, 1.0, False, True, 7),
}


def _case(name):
    fam, n, p, l2, fi, weighted, seed = CASES[name]
    X, y = R.make_data(fam, n=n, p=p, seed=seed)
    s = np.random.default_rng(seed + 50).uniform(0.3, 2.5, n) if weighted else None
    return fam, X, y, s, l2, fi


def reference_loo(fam, X, y, s, l2, fi):
    """η₋ᵢ by IF and RIF, written out: θ̂ by the reference's cold-start Newton, then for each
    row q_i = x̃_iᵀ H⁻¹ x̃_i by a dense solve."""
    Xt = R.design(X, fi)
    s = np.ones(len(y)) if s is None else s
    theta = R.fit_theta(Xt, y, fam, l2, fi, s)
    H = R.hessian(theta, Xt, y, fam, l2, fi, s)
    eta = Xt @ theta
    r = s * R.dloss(fam, eta, y)
    w = s * R.d2loss(fam, eta, y)
    q = np.einsum("ij,ji->i", Xt, np.linalg.solve(H, Xt.T))
    h = w * q
    return eta, eta + r * q, eta + r * q / (1 - h), theta


def _attributor(fam, X, y, s, l2, fi):
    model = leaveout.fit(X, y, family=fam, l2=l2, fit_intercept=fi, sample_weight=s)
    return leaveout.Attributor(model, X, y, sample_weight=s)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_loo_linear_predictor_matches_reference(name):
    """if / rif / newton η₋ᵢ equal the written-out formula at the reference optimum (1e-8)."""
    fam, X, y, s, l2, fi = _case(name)
    eta, eta_if, eta_rif, _ = reference_loo(fam, X, y, s, l2, fi)
    att = _attributor(fam, X, y, s, l2, fi)
    assert rel_err(att.loo_linear_predictor("if"), eta_if) < 1e-8
    assert rel_err(att.loo_linear_predictor("rif"), eta_rif) < 1e-8
    assert rel_err(att.loo_linear_predictor(), eta_rif) < 1e-8  # default method is rif
    assert rel_err(att.loo_linear_predictor("newton"), eta_rif) < 1e-8
    si = R.loss(fam, eta_rif, y) - R.loss(fam, eta, y)
    assert rel_err(att.self_influence("rif"), si) < 1e-8
    si_if = R.loss(fam, eta_if, y) - R.loss(fam, eta, y)
    assert rel_err(att.self_influence("if"), si_if) < 1e-8


@pytest.mark.parametrize("name", sorted(CASES))
def test_loo_change_matches_reference(name):
    """The leave-one-out change η₋ᵢ − η_i itself (not swamped by η) to 1e-8 relative."""
    fam, X, y, s, l2, fi = _case(name)
    eta, eta_if, eta_rif, _ = reference_loo(fam, X, y, s, l2, fi)
    att = _attributor(fam, X, y, s, l2, fi)
    eta_lo = att.evaluate(leaveout.targets.linear_predictor(X))
    assert rel_err(att.loo_linear_predictor("rif") - eta_lo, eta_rif - eta) < 1e-8
    assert rel_err(att.loo_linear_predictor("if") - eta_lo, eta_if - eta) < 1e-8


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_squared_rif_is_exact_leave_one_out(fit_intercept):
    """Squared loss: rif η₋ᵢ equals n explicit refits (closed form) and the PRESS residual."""
    rng = np.random.default_rng(8)
    n, p, l2 = 40, 12, 0.7
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + rng.normal(size=n) + 2.0
    Xt = R.design(X, fit_intercept)
    pen = np.diag(R.penalty_diag(Xt.shape[1], fit_intercept, l2))
    exact = np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        theta_i = np.linalg.solve(Xt[keep].T @ Xt[keep] + pen, Xt[keep].T @ y[keep])
        exact[i] = Xt[i] @ theta_i
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=l2,
                                           fit_intercept=fit_intercept), X, y)
    assert rel_err(att.loo_linear_predictor("rif"), exact) < 1e-10
    assert rel_err(att.loo_linear_predictor("retrain"), exact) < 1e-10
    theta = np.linalg.solve(Xt.T @ Xt + pen, Xt.T @ y)
    e = y - Xt @ theta
    h = np.einsum("ij,ji->i", Xt, np.linalg.solve(Xt.T @ Xt + pen, Xt.T))
    assert rel_err(y - att.loo_linear_predictor("rif"), e / (1 - h)) < 1e-10
    # if is biased by exactly (1 − h): its residual is e_i (1 + h_i), not e_i / (1 − h_i)
    assert rel_err(y - att.loo_linear_predictor("if"), e / (1 - h)) > 1e-3


@pytest.mark.parametrize("name", ["logistic", "poisson-weighted", "logistic-wide"])
def test_retrain_matches_reference_refits_and_rif_is_close(name):
    """retrain η₋ᵢ = x̃_i·θ̂₋ᵢ of the reference's cold-start refits (1e-6); rif's change is
    within a few percent of the exact one for these GLMs, IF's is further off."""
    fam, X, y, s, l2, fi = _case(name)
    eta, eta_if, eta_rif, _ = reference_loo(fam, X, y, s, l2, fi)
    Xt = R.design(X, fi)
    sw = np.ones(len(y)) if s is None else s
    exact = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        exact[i] = Xt[i] @ R.fit_theta(Xt[keep], y[keep], fam, l2, fi, sw[keep])
    att = _attributor(fam, X, y, s, l2, fi)
    assert rel_err(att.loo_linear_predictor("retrain"), exact) < 1e-6
    err_rif = np.median(np.abs((eta_rif - eta) / (exact - eta) - 1))
    err_if = np.median(np.abs((eta_if - eta) / (exact - eta) - 1))
    assert err_rif < 0.05 and err_rif < err_if


def test_retrain_checkpoint_is_reused(tmp_path):
    fam, X, y, s, l2, fi = _case("logistic")
    att = leaveout.Attributor(leaveout.fit(X, y, l2=l2), X, y)
    first = att.loo_linear_predictor("retrain", checkpoint=tmp_path)
    files = list(tmp_path.rglob("*.npy"))
    assert len(files) == len(y)
    stamp = {f: f.stat().st_mtime_ns for f in files}
    again = att.self_influence("retrain", checkpoint=tmp_path)
    assert {f: f.stat().st_mtime_ns for f in files} == stamp  # read, not rewritten
    eta = att.evaluate(leaveout.targets.linear_predictor(X))
    assert np.allclose(again, att.family.loss(first, y) - att.family.loss(eta, y), rtol=1e-12)


def test_self_influence_is_unweighted_loss_change():
    """With sample weights, self-influence is ℓ(η₋ᵢ) − ℓ(η_i) without s_i; zero-weight rows have
    η₋ᵢ = η_i (removing them changes nothing) and self-influence 0."""
    fam, X, y, s, l2, fi = _case("logistic-weighted")
    s = s.copy()
    s[:5] = 0.0
    att = leaveout.Attributor(leaveout.fit(X, y, l2=l2, sample_weight=s), X, y,
                              sample_weight=s)
    eta = att.evaluate(leaveout.targets.linear_predictor(X))
    loo = att.loo_linear_predictor()
    assert np.array_equal(loo[:5], eta[:5])
    si = att.self_influence()
    assert np.all(si[:5] == 0.0)
    assert np.allclose(si, att.family.loss(loo, y) - att.family.loss(eta, y), rtol=1e-13)
    # a row's weight enters through η₋ᵢ: doubling it moves its own fit more
    s2 = s.copy()
    s2[10] *= 2
    att2 = leaveout.Attributor(leaveout.fit(X, y, l2=l2, sample_weight=s2), X, y,
                               sample_weight=s2)
    assert abs(att2.self_influence()[10]) > abs(si[10])


def test_own_quadratic_on_zero_curvature_rows():
    """q_i = x̃_iᵀH⁻¹x̃_i read off h / w, and computed directly where w_i = 0 (zero weight)."""
    from leaveout.loo import own_quadratic

    fam, X, y, s, l2, fi = _case("poisson-weighted")
    s = s.copy()
    s[[0, 7]] = 0.0
    att = _attributor(fam, X, y, s, l2, fi)
    st = att._state
    H = R.hessian(att.params_, R.design(X, fi), y, fam, l2, fi, s)
    q_ref = np.einsum("ij,ji->i", R.design(X, fi), np.linalg.solve(H, R.design(X, fi).T))
    q = own_quadratic(st)
    assert np.all(q > 0) and rel_err(q, q_ref) < 1e-10
    assert st.w[0] == 0.0 and abs(q[0] - q_ref[0]) < 1e-10 * q_ref[0]


def test_high_leverage_row_is_nan_with_warning():
    """Squared, l2 = 0, a column nonzero on one row only: that row has leverage 1, its removal
    is singular — NaN and a HighLeverageWarning naming it (the effects' policy); exact for
    the other rows."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(30, 3))
    X = np.column_stack([X, np.zeros(30)])
    X[4, 3] = 1.0
    y = rng.normal(size=30)
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=0.0), X, y)
    with pytest.warns(HighLeverageWarning, match="row.*4"):
        loo = att.loo_linear_predictor("rif")
    assert np.isnan(loo[4]) and np.all(np.isfinite(np.delete(loo, 4)))
    with pytest.warns(HighLeverageWarning):
        assert np.isnan(att.self_influence()[4])


def test_degenerate_row_is_nan():
    """A row that is alone in its class: removing it leaves no finite optimum."""
    rng = np.random.default_rng(10)
    X = rng.normal(size=(25, 2))
    y = np.zeros(25)
    y[3] = 1.0
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    with pytest.warns(DegenerateRemovalWarning):
        loo = att.loo_linear_predictor("rif")
    assert np.isnan(loo[3]) and np.isfinite(np.delete(loo, 3)).all()


def test_bad_arguments():
    fam, X, y, s, l2, fi = _case("logistic")
    att = leaveout.Attributor(leaveout.fit(X, y, l2=l2), X, y)
    with pytest.raises(ValueError, match="Unknown method 'loo'"):
        att.loo_linear_predictor("loo")
    with pytest.raises(TypeError, match="method must be a string"):
        att.self_influence(1)
    with pytest.raises(ValueError, match="checkpoint applies to method='retrain' only"):
        att.loo_linear_predictor("rif", checkpoint="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att.self_influence("newton")
