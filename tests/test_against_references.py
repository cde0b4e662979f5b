"""leaveout's public API against independent references.

References, all independent of ``src/leaveout``:
  * ``tests/reference.py`` -- plain dense NumPy/SciPy implementation of DESIGN.md (exact fit by
    damped Newton to machine precision, direct ``np.linalg.solve`` for every estimator, exact
    retrain by a cold-start refit);
  * closed forms for squared loss (Newton step == retrain; RIF == PRESS leave-one-out);
  * statsmodels 0.15 GLM influence at l2 = 0;
  * scikit-learn 1.9 fitted estimators (adopted by ``leaveout.Attributor``).

Tolerances are "normwise relative": max |actual - expected| <= rtol * max |expected| over the
whole array being compared (see ``assert_rel``), unless a test says otherwise.
"""

from __future__ import annotations

import functools
import importlib.util
import pathlib
import warnings

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "leaveout_tests_reference", pathlib.Path(__file__).with_name("reference.py")
)
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

try:  # the reference self-checks below must run even when leaveout does not import
    import leaveout
    import leaveout.targets  # noqa: F401

    _IMPORT_ERROR = None
except Exception as exc:  # pragma: no cover - only while the implementation is missing
    leaveout = None
    _IMPORT_ERROR = exc


def lo():
    """The leaveout module; a test that needs it FAILS (not skips) if it does not import."""
    if leaveout is None:
        pytest.fail(f"import leaveout failed: {_IMPORT_ERROR!r}")
    return leaveout


FAMILIES = R.FAMILIES


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Matrices here are tiny; multi-threaded OpenBLAS on a busy 2-core machine made p = 150
    solves ~100x slower (oversubscription).  One BLAS thread for this module only."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1):
        yield

POINT_METHODS = ("if", "rif", "newton")
RTOL = 1e-6  # if / rif / newton / leverage vs reference
RTOL_RETRAIN = 1e-5  # retrain vs reference refit


def assert_rel(actual, expected, rtol, what=""):
    """max|actual - expected| <= rtol * max|expected| (plus a 1e-300 floor), same shape."""
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values"
    err = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    assert err <= rtol * scale + 1e-300, (
        f"{what}: max abs err {err:.3e}, scale {scale:.3e}, rel {err / max(scale, 1e-300):.3e}"
        f" > rtol {rtol:.0e}"
    )


# ------------------------------------------------------------------------------- cases
# name -> (family, n, p, l2, fit_intercept, weighted, seed)
CASES = {}
for _fam in FAMILIES:
    CASES[f"{_fam}-intercept"] = (_fam, 60, 8, 1.0, True, False, 11)
    CASES[f"{_fam}-nointercept"] = (_fam, 60, 8, 1.0, False, False, 12)
    CASES[f"{_fam}-weighted"] = (_fam, 60, 8, 0.5, True, True, 13)
    CASES[f"{_fam}-wide"] = (_fam, 40, 60, 1.0, True, False, 14)  # p > n
    CASES[f"{_fam}-verywide"] = (_fam, 30, 300, 1.0, True, True, 15)  # p >> n
CASE_NAMES = list(CASES)


@functools.lru_cache(maxsize=None)
def case_data(name):
    fam, n, p, l2, fi, weighted, seed = CASES[name]
    X, y = R.make_data(fam, n=n, p=p, seed=seed)
    s = np.random.default_rng(seed + 100).uniform(0.3, 2.5, n) if weighted else None
    return X, y, s


@functools.lru_cache(maxsize=None)
def case_ref(name):
    fam, n, p, l2, fi, weighted, seed = CASES[name]
    X, y, s = case_data(name)
    return R.Reference(X, y, fam, l2=l2, fit_intercept=fi, sample_weight=s)


@functools.lru_cache(maxsize=None)
def case_ref_rows(name, method):
    return case_ref(name).effects_rows(method)


@functools.lru_cache(maxsize=None)
def case_lo(name):
    L = lo()
    fam, n, p, l2, fi, weighted, seed = CASES[name]
    X, y, s = case_data(name)
    model = L.fit(X, y, family=fam, l2=l2, fit_intercept=fi, sample_weight=s)
    att = L.Attributor(model, X, y, sample_weight=s)
    return model, att


@functools.lru_cache(maxsize=None)
def case_lo_rows(name, method):
    return np.asarray(case_lo(name)[1].effects(method), dtype=float)


def case_sets(name):
    n = CASES[name][1]
    rng = np.random.default_rng(CASES[name][6] + 7)
    sets = [sorted(int(i) for i in rng.choice(n, k, replace=False)) for k in (1, 2, 5, 10)]
    sets.append(list(range(3, 9)))  # a contiguous block
    return sets


def query(name, m=7):
    fam, n, p = CASES[name][:3]
    Xq, yq = R.make_data(fam, n=m, p=p, seed=CASES[name][6] + 1000)
    return Xq, yq


# =========================================================================== reference self-checks
# These do not need leaveout; they validate tests/reference.py itself.


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_reference_fit_is_stationary_and_matches_scipy(family, fit_intercept):
    """Reference fit: gradient ~ 0 and theta == scipy trust-exact minimiser (rtol 1e-7)."""
    from scipy.optimize import minimize

    X, y = R.make_data(family, n=60, p=8, seed=1)
    s = np.random.default_rng(2).uniform(0.5, 2, 60)
    ref = R.Reference(X, y, family, l2=0.7, fit_intercept=fit_intercept, sample_weight=s)
    g = R.gradient(ref.theta, ref.Xt, y, family, 0.7, fit_intercept, s)
    assert np.abs(g).max() < 1e-10
    res = minimize(
        R.objective, np.zeros(ref.p), args=(ref.Xt, y, family, 0.7, fit_intercept, s),
        jac=R.gradient, hess=R.hessian, method="trust-exact", options=dict(gtol=1e-12),
    )
    assert_rel(ref.theta, res.x, 1e-7, "reference fit vs scipy")


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_if_is_weight_derivative(family):
    """Reference IF == -d theta/d s_i * s_i (central finite difference of the exact fit in the
    sample weight, eps = 1e-4), rtol 1e-6: IF is the linearisation of removing row i."""
    X, y = R.make_data(family, n=60, p=8, seed=1)
    s = np.random.default_rng(2).uniform(0.5, 2, 60)
    ref = R.Reference(X, y, family, l2=0.7, fit_intercept=True, sample_weight=s)
    eps = 1e-4
    for i in (0, 5, 17):
        def th(si):
            s2 = s.copy()
            s2[i] = si
            return R.fit_theta(ref.Xt, y, family, 0.7, True, s2)

        fd = (th(s[i] - eps) - th(s[i] + eps)) / (2 * eps) * s[i]
        assert_rel(ref.effect("if", [i]), fd, 1e-6, f"IF vs finite difference, row {i}")


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_retrain_and_leverage_vs_statsmodels(family):
    """Reference cold-start refit == statsmodels GLM refit at l2 = 0 (rtol 1e-9); reference
    leverage == statsmodels hat_matrix_diag (rtol 1e-9)."""
    sm = pytest.importorskip("statsmodels.api")
    smfam = {"logistic": sm.families.Binomial(), "squared": sm.families.Gaussian(),
             "poisson": sm.families.Poisson()}[family]
    X, y = R.make_data(family, n=80, p=5, seed=3)
    ref = R.Reference(X, y, family, l2=0.0)
    Xc = np.column_stack([X, np.ones(len(y))])
    full = sm.GLM(y, Xc, family=smfam).fit(tol=1e-13)
    assert_rel(ref.theta, full.params, 1e-9, "theta vs statsmodels")
    T = [3, 7, 11, 40]
    keep = np.setdiff1d(np.arange(len(y)), T)
    part = sm.GLM(y[keep], Xc[keep], family=smfam).fit(tol=1e-13)
    assert_rel(ref.effect("retrain", T), part.params - full.params, 1e-9, "retrain vs sm")
    assert_rel(ref.leverage(), full.get_influence(observed=True).hat_matrix_diag, 1e-9, "h")


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_single_row_rif_equals_newton(family):
    """For one row, RIF's (H - w_i x x^T)^{-1} g_i IS the Newton step (rtol 1e-10); and
    RIF = IF / (1 - h_i) (Sherman-Morrison, rtol 1e-10)."""
    ref = case_ref(f"{family}-weighted")
    h = ref.leverage()
    for i in (0, 9, 33):
        rif = ref.effect("rif", [i])
        assert_rel(rif, ref.effect("newton", [i]), 1e-10, "rif vs newton")
        assert_rel(rif, ref.effect("if", [i]) / (1 - h[i]), 1e-10, "rif vs if/(1-h)")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_reference_estimators_are_distinguishable(name):
    """Guard on the tests' power: in every case the four estimators differ from each other by
    far more than the tolerances (so a swapped or mis-scaled estimator cannot pass).
    Exceptions by theory: newton == retrain for squared loss; rif == newton for one row."""
    ref = case_ref(name)
    sets = [T for T in case_sets(name) if len(T) > 1]
    fam = CASES[name][0]
    E = {m: ref.effects_sets(m, sets) for m in ("if", "rif", "newton", "retrain")}
    pairs = [("if", "rif"), ("if", "newton"), ("rif", "newton"), ("rif", "retrain")]
    if fam != "squared":
        pairs.append(("newton", "retrain"))
    for a, b in pairs:
        gap = np.abs(E[a] - E[b]).max() / np.abs(E[b]).max()
        assert gap > 100 * RTOL_RETRAIN, f"{a} vs {b} too close ({gap:.2e}) to discriminate"


# =========================================================================== (a) vs reference
@pytest.mark.parametrize("name", CASE_NAMES)
def test_fit_matches_reference(name):
    """leaveout.fit: coef_, intercept_, params_ vs reference exact optimum, rtol 1e-6;
    Attributor.params_ (polished) vs reference, rtol 1e-6."""
    ref = case_ref(name)
    model, att = case_lo(name)
    fi = CASES[name][4]
    p_feat = CASES[name][2]
    assert np.shape(model.coef_) == (p_feat,)
    assert_rel(model.coef_, ref.coef, RTOL, "coef_")
    assert_rel(model.params_, ref.theta, RTOL, "params_ (coef then intercept last)")
    if fi:
        assert abs(model.intercept_ - ref.intercept) <= RTOL * np.abs(ref.theta).max()
    else:
        assert model.intercept_ == 0.0
    assert_rel(att.params_, ref.theta, RTOL, "Attributor.params_")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_leverage_matches_reference(name):
    """Attributor.leverage == w_i x~_i^T H^{-1} x~_i from the reference, rtol 1e-6."""
    ref = case_ref(name)
    _, att = case_lo(name)
    h = np.asarray(att.leverage, dtype=float)
    assert_rel(h, ref.leverage(), RTOL, "leverage")
    assert np.all(h >= -1e-12) and np.all(h < 1)


@pytest.mark.parametrize("method", POINT_METHODS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_row_effects_match_reference(name, method):
    """effects(method) (n, p) == reference per-row estimator, rtol 1e-6."""
    assert_rel(case_lo_rows(name, method), case_ref_rows(name, method), RTOL, f"{method} rows")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_row_effects_retrain_match_reference(name):
    """effects("retrain") (n, p) == cold-start reference refits, rtol 1e-5."""
    assert_rel(case_lo_rows(name, "retrain"), case_ref_rows(name, "retrain"), RTOL_RETRAIN,
               "retrain rows")


@pytest.mark.parametrize("method", POINT_METHODS + ("retrain",))
@pytest.mark.parametrize("name", CASE_NAMES)
def test_set_effects_match_reference(name, method):
    """effects(method, remove=T) (p,) and remove=[T1..Tm] (m, p) == reference;
    rtol 1e-6 (if/rif/newton), 1e-5 (retrain)."""
    ref = case_ref(name)
    _, att = case_lo(name)
    rtol = RTOL_RETRAIN if method == "retrain" else RTOL
    sets = case_sets(name)
    expected = ref.effects_sets(method, sets)
    got = np.asarray(att.effects(method, remove=sets), dtype=float)
    assert_rel(got, expected, rtol, f"{method} list of sets")
    for T, e in zip(sets, expected):
        assert_rel(att.effects(method, remove=T), e, rtol, f"{method} set {T}")
    # a numpy integer array is also a "sequence of int row indices"
    assert_rel(att.effects(method, remove=np.asarray(sets[3])), expected[3], rtol, "np.array T")


# =========================================================================== (b) squared loss
SQUARED_CASES = [c for c in CASE_NAMES if c.startswith("squared")]


@pytest.mark.parametrize("name", SQUARED_CASES)
def test_squared_newton_equals_retrain(name):
    """Squared loss is quadratic, so one Newton step on the retained data IS the refit:
    effects("newton", remove=T) == exact ridge refit (closed-form solve), rtol 1e-8,
    and effects("retrain", remove=T) == the same, rtol 1e-8."""
    ref = case_ref(name)
    _, att = case_lo(name)
    sets = case_sets(name) + [list(range(0, ref.n, 3))]  # also a large (1/3 of rows) set
    exact = ref.effects_sets("retrain", sets)
    assert_rel(att.effects("newton", remove=sets), exact, 1e-8, "newton vs exact refit")
    assert_rel(att.effects("retrain", remove=sets), exact, 1e-8, "retrain vs exact refit")


@pytest.mark.parametrize("name", SQUARED_CASES)
def test_squared_rif_is_press(name):
    """Per row, RIF == PRESS leave-one-out:
    theta_{-i} - theta = H^{-1} x~_i s_i e_i / (1 - h_i), e_i = eta_i - y_i, rtol 1e-8;
    and the PRESS formula itself == exact refit (rtol 1e-8)."""
    ref = case_ref(name)
    _, att = case_lo(name)
    e = ref.Xt @ ref.theta - ref.y
    HinvX = np.linalg.solve(ref.H, ref.Xt.T).T  # (n, p) rows H^{-1} x~_i
    h = ref.s * np.einsum("ij,ij->i", ref.Xt, HinvX)
    press = HinvX * (ref.s * e / (1.0 - h))[:, None]
    assert_rel(press, case_ref_rows(name, "retrain"), 1e-8, "PRESS vs exact LOO (reference)")
    assert_rel(case_lo_rows(name, "rif"), press, 1e-8, "rif rows vs PRESS")
    assert_rel(np.asarray(att.leverage), h, 1e-8, "leverage vs PRESS h")


# =========================================================================== (c) statsmodels
# Facts checked in statsmodels 0.15.0 source (statsmodels/stats/outliers_influence.py,
# GLMInfluence.d_params, and genmod/generalized_linear_model.py, GLMResults.get_influence):
#   * d_params is the ONE-STEP approximation ("This uses one-step approximation of the
#     parameter change to deleting one observation"), not an exact refit:
#         beta_i = pinv(W^{1/2} X) * resid_studentized / sqrt(1 - h)
#     with exog = sqrt(hessian_factor(observed=True)) * X, resid = resid_pearson / sqrt(scale),
#     resid_studentized = resid / sqrt(1 - h).  For the canonical links here the observed
#     hessian factor is w_i / scale and the Pearson residual is (y - mu)/sqrt(w_i), so
#         d_params[i] = H^{-1} x~_i (y_i - mu_i) / (1 - h_i) = -RIF_i   (scale cancels),
#     i.e. theta_hat - theta_{-i} estimated by RIF.  params_one = params - d_params = theta+RIF.
#   * it is exact leave-one-out only for the Gaussian family (quadratic loss); for Binomial /
#     Poisson it differs from the exact refit (checked below: it is NOT equal to -retrain).
#   * hat_matrix_diag = diag of W^{1/2} X pinv(W^{1/2} X) = w_i x~_i^T H^{-1} x~_i (l2 = 0).
#   * the constant goes where we put it; we append it LAST to match leaveout.


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("family", FAMILIES)
def test_statsmodels_glm_influence(family, fit_intercept):
    """l2 = 0: hat_matrix_diag == leverage (rtol 1e-6); d_params == -effects("rif") (rtol 1e-6);
    params_one == theta + rif; leaveout.fit params == sm params (rtol 1e-6).
    For Gaussian also d_params == -effects("retrain") (exact LOO, rtol 1e-6); for Binomial and
    Poisson d_params is one-step and differs from -retrain by > 1e-3 relative."""
    sm = pytest.importorskip("statsmodels.api")
    L = lo()
    smfam = {"logistic": sm.families.Binomial(), "squared": sm.families.Gaussian(),
             "poisson": sm.families.Poisson()}[family]
    X, y = R.make_data(family, n=100, p=5, seed=21)
    Xd = np.column_stack([X, np.ones(len(y))]) if fit_intercept else X
    res = sm.GLM(y, Xd, family=smfam).fit(tol=1e-13)
    infl = res.get_influence(observed=True)

    model = L.fit(X, y, family=family, l2=0.0, fit_intercept=fit_intercept)
    assert_rel(model.params_, res.params, RTOL, "params vs statsmodels")
    att = L.Attributor(model, X, y)
    assert_rel(att.leverage, infl.hat_matrix_diag, RTOL, "leverage vs hat_matrix_diag")
    rif = np.asarray(att.effects("rif"), dtype=float)
    assert_rel(-rif, infl.d_params, RTOL, "-rif vs d_params")
    assert_rel(att.params_ + rif, infl.params_one, RTOL, "theta + rif vs params_one")

    retrain = np.asarray(att.effects("retrain"), dtype=float)
    gap = np.abs(-retrain - infl.d_params).max() / np.abs(infl.d_params).max()
    if family == "squared":
        assert_rel(-retrain, infl.d_params, RTOL, "-retrain vs d_params (Gaussian: exact)")
    else:
        assert gap > 1e-3, "statsmodels d_params is one-step; expected it to differ from exact"


# =========================================================================== (d) scikit-learn
# Objectives checked in scikit-learn 1.9.1 (sklearn/linear_model/):
#   LogisticRegression (_logistic.py, lines ~464-469): "C * sum(pointwise_loss) + penalty",
#     penalty = 1/2 ||w||^2 for l1_ratio = 0, intercept unpenalised  ->  l2 = 1/C (weights too).
#     `penalty` is deprecated since 1.8 (default "deprecated"; l1_ratio defaults to 0.0 = L2),
#     so we pass only C.
#   Ridge (_ridge.py): ||y - Xw||^2_2 + alpha ||w||^2_2 (weighted: sum s_i (...)^2) -> l2 = alpha.
#   LinearRegression -> l2 = 0.
#   PoissonRegressor (_glm/glm.py, lines 49-53): 1/(2 sum(s_i)) sum s_i deviance + alpha/2 ||w||^2,
#     and half the Poisson deviance is mu - y eta + const(y)  ->  l2 = alpha * sum(s_i)
#     (= alpha * n without weights).  NB DESIGN.md section 6 says alpha * n: that is right only
#     for unit weights; verified numerically that with weights the optimum is at alpha*sum(s).
#   LogisticRegressionCV (refit=True) / RidgeCV: the final fit on all rows at the chosen C_ /
#     alpha_, so l2 = 1/C_ / alpha_ (the selection is held fixed).
SKLEARN_MODELS = ["logistic", "ridge", "linear", "poisson", "logistic_cv", "ridge_cv"]


def _sklearn_case(kind, weighted, fit_intercept):
    from sklearn.linear_model import (LinearRegression, LogisticRegression, LogisticRegressionCV,
                                      PoissonRegressor, Ridge, RidgeCV)

    family = {"logistic": "logistic", "ridge": "squared", "linear": "squared",
              "poisson": "poisson", "logistic_cv": "logistic", "ridge_cv": "squared"}[kind]
    n = 90
    X, y = R.make_data(family, n=n, p=6, seed=31)
    s = np.random.default_rng(32).uniform(0.3, 2.5, n) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # default tolerances may warn; leaveout must polish
        if kind == "logistic":
            C = 0.4
            est = LogisticRegression(C=C, fit_intercept=fit_intercept)  # default tol 1e-4
            l2 = 1.0 / C
        elif kind == "ridge":
            est = Ridge(alpha=2.5, fit_intercept=fit_intercept)
            l2 = 2.5
        elif kind == "linear":
            est = LinearRegression(fit_intercept=fit_intercept)
            l2 = 0.0
        elif kind == "logistic_cv":
            est = LogisticRegressionCV(Cs=[0.05, 0.4, 3.0], cv=3, l1_ratios=(0.0,),
                                       fit_intercept=fit_intercept, use_legacy_attributes=False)
        elif kind == "ridge_cv":
            est = RidgeCV(alphas=(0.3, 2.5, 20.0), fit_intercept=fit_intercept)
        else:
            alpha = 0.02
            est = PoissonRegressor(alpha=alpha, fit_intercept=fit_intercept)  # default tol 1e-4
            l2 = alpha * (n if s is None else float(np.sum(s)))
        est.fit(X, y, sample_weight=s)
    if kind == "logistic_cv":
        l2 = 1.0 / float(np.ravel(est.C_)[0])
    elif kind == "ridge_cv":
        l2 = float(est.alpha_)
    return family, X, y, s, est, l2


@pytest.mark.filterwarnings("ignore:Polishing")  # expected: sklearn fitted at default tol
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", SKLEARN_MODELS)
def test_sklearn_adoption(kind, weighted, fit_intercept):
    """Attributor(fitted sklearn estimator) gives the same params_ (after polishing), leverage
    and if/rif/newton row effects as Attributor(leaveout.fit(l2=converted)) and as the reference
    at the exact optimum (rtol 1e-6); retrain on sets matches the reference (rtol 1e-5).
    sklearn is fitted with its DEFAULT tolerance, so this also tests the polish."""
    L = lo()
    family, X, y, s, est, l2 = _sklearn_case(kind, weighted, fit_intercept)
    ref = R.Reference(X, y, family, l2=l2, fit_intercept=fit_intercept, sample_weight=s)
    att_sk = L.Attributor(est, X, y, sample_weight=s)
    model = L.fit(X, y, family=family, l2=l2, fit_intercept=fit_intercept, sample_weight=s)
    att_lo = L.Attributor(model, X, y, sample_weight=s)

    assert_rel(att_sk.params_, ref.theta, RTOL, "sklearn-adopted params_ vs reference")
    assert_rel(att_sk.params_, att_lo.params_, RTOL, "sklearn-adopted vs leaveout.fit params_")
    assert_rel(att_sk.leverage, ref.leverage(), RTOL, "leverage vs reference")
    assert_rel(att_sk.leverage, att_lo.leverage, RTOL, "leverage sklearn vs leaveout.fit")
    for method in POINT_METHODS:
        e_sk = np.asarray(att_sk.effects(method), dtype=float)
        assert_rel(e_sk, ref.effects_rows(method), RTOL, f"{method} rows vs reference")
        assert_rel(e_sk, att_lo.effects(method), RTOL, f"{method} rows sklearn vs leaveout.fit")
    sets = [[0], [4, 9, 30], list(range(10, 20))]
    assert_rel(att_sk.effects("retrain", remove=sets), ref.effects_sets("retrain", sets),
               RTOL_RETRAIN, "retrain sets vs reference")


# =========================================================================== (e) targets
TARGET_KINDS = ("linear_predictor", "prediction", "loss")
TARGET_CASES = [c for c in CASE_NAMES]


def _target(kind, Xq, yq, reduce=None):
    T = lo().targets
    kw = {} if reduce is None else {"reduce": reduce}
    if kind == "linear_predictor":
        return T.linear_predictor(Xq, **kw)
    if kind == "prediction":
        return T.prediction(Xq, **kw)
    return T.loss(Xq, yq, **kw)


@pytest.mark.parametrize("kind", TARGET_KINDS)
@pytest.mark.parametrize("method", POINT_METHODS)
@pytest.mark.parametrize("name", TARGET_CASES)
def test_target_first_order(name, method, kind):
    """First-order target effects == reference Delta theta @ grad f(theta_hat) (gradient computed
    by the reference: x~_q; mu'(eta_q) x~_q; l'(eta_q, y_q) x~_q), rtol 1e-6:
    per row (n, m) and reduce="sum" (n,); one set (m,) / scalar; list of sets (k, m) / (k,)."""
    ref = case_ref(name)
    _, att = case_lo(name)
    Xq, yq = query(name)
    Gf = ref.target_grad(kind, Xq, yq)  # (m, p)
    rows = case_ref_rows(name, method)

    def lin(**kw):  # first order by name: the default is the plug-in
        return att.effects(method, linearize=True, **kw)

    tq, tsum = _target(kind, Xq, yq), _target(kind, Xq, yq, "sum")
    assert_rel(lin(target=tq), rows @ Gf.T, RTOL, "per-row (n, m)")
    assert_rel(lin(target=tsum), rows @ Gf.sum(0), RTOL, "per-row scalar (n,)")
    sets = case_sets(name)
    D = ref.effects_sets(method, sets)  # (k, p)
    assert_rel(lin(remove=sets, target=tq), D @ Gf.T, RTOL, "list of sets (k, m)")
    assert_rel(lin(remove=sets, target=tsum), D @ Gf.sum(0), RTOL, "list of sets scalar (k,)")
    assert_rel(lin(remove=sets[2], target=tq), D[2] @ Gf.T, RTOL, "one set (m,)")
    v = lin(remove=sets[2], target=tsum)
    assert np.ndim(v) == 0, f"scalar target on one set should be a float, got shape {np.shape(v)}"
    assert_rel(float(v), D[2] @ Gf.sum(0), RTOL, "one set scalar")


@pytest.mark.parametrize("kind", TARGET_KINDS)
@pytest.mark.parametrize("method", POINT_METHODS)
@pytest.mark.parametrize("name", TARGET_CASES)
def test_target_default_is_plugin(name, method, kind):
    """The default target effect is the plug-in f(theta_hat + Delta) - f(theta_hat), with f and
    Delta from the reference, rtol 1e-6: per row (n, m) and summed (n,), list of sets (k, m)."""
    ref = case_ref(name)
    _, att = case_lo(name)
    Xq, yq = query(name)
    f0 = ref.target_value(kind, ref.theta, Xq, yq)
    rows = case_ref_rows(name, method)
    plug = np.stack([ref.target_value(kind, ref.theta + d, Xq, yq) - f0 for d in rows])
    assert_rel(att.effects(method, target=_target(kind, Xq, yq)), plug, RTOL, "per-row (n, m)")
    assert_rel(att.effects(method, target=_target(kind, Xq, yq, "sum")), plug.sum(1), RTOL,
               "per-row scalar (n,)")
    sets = case_sets(name)
    D = ref.effects_sets(method, sets)
    plug_sets = np.stack([ref.target_value(kind, ref.theta + d, Xq, yq) - f0 for d in D])
    assert_rel(att.effects(method, remove=sets, target=_target(kind, Xq, yq)), plug_sets, RTOL,
               "list of sets (k, m)")


@pytest.mark.parametrize("kind", TARGET_KINDS)
@pytest.mark.parametrize("name", TARGET_CASES)
def test_target_retrain_exact(name, kind):
    """retrain target effects == EXACT f(theta_{-T}) - f(theta_hat) with cold-start reference
    refits (not first order), rtol 1e-5: list of sets (k, m), one set (m,), scalar sum, and per
    row (n, m)."""
    ref = case_ref(name)
    _, att = case_lo(name)
    Xq, yq = query(name)
    f0 = ref.target_value(kind, ref.theta, Xq, yq)
    sets = case_sets(name)
    exact = np.stack([ref.target_value(kind, ref.refit_without(T), Xq, yq) - f0 for T in sets])
    assert_rel(att.effects("retrain", remove=sets, target=_target(kind, Xq, yq)), exact,
               RTOL_RETRAIN, "retrain list of sets (k, m)")
    assert_rel(att.effects("retrain", remove=sets[3], target=_target(kind, Xq, yq)), exact[3],
               RTOL_RETRAIN, "retrain one set (m,)")
    v = att.effects("retrain", remove=sets[3], target=_target(kind, Xq, yq, "sum"))
    assert np.ndim(v) == 0
    assert_rel(float(v), exact[3].sum(), RTOL_RETRAIN, "retrain one set scalar")
    rows_theta = case_ref_rows(name, "retrain") + ref.theta
    exact_rows = np.stack([ref.target_value(kind, t, Xq, yq) - f0 for t in rows_theta])
    assert_rel(att.effects("retrain", target=_target(kind, Xq, yq)), exact_rows, RTOL_RETRAIN,
               "retrain per row (n, m)")
    if kind == "loss" or (kind == "prediction" and CASES[name][0] != "squared"):
        # the exact change is genuinely not the first-order one: make sure we are not fooled
        first = case_ref_rows(name, "newton") @ ref.target_grad(kind, Xq, yq).T
        assert not np.allclose(exact_rows, first, rtol=1e-7, atol=0)


# =========================================================================== (f) additivity
@pytest.mark.parametrize("method", ("if", "rif"))
@pytest.mark.parametrize("name", CASE_NAMES)
def test_additivity(name, method):
    """if / rif of a set == sum of leaveout's own per-row effects (rtol 1e-9); also on a
    target to first order (rtol 1e-9; the plug-in default is not additive)."""
    _, att = case_lo(name)
    rows = case_lo_rows(name, method)
    sets = case_sets(name)
    got = np.asarray(att.effects(method, remove=sets), dtype=float)
    assert_rel(got, np.stack([rows[T].sum(0) for T in sets]), 1e-9, "set == sum of rows")
    Xq, yq = query(name)
    trows = np.asarray(att.effects(method, target=_target("loss", Xq, yq), linearize=True),
                       dtype=float)
    tsets = np.asarray(att.effects(method, remove=sets, target=_target("loss", Xq, yq),
                                   linearize=True))
    assert_rel(tsets, np.stack([trows[T].sum(0) for T in sets]), 1e-9, "target additivity")


@pytest.mark.parametrize("method", POINT_METHODS + ("retrain",))
@pytest.mark.parametrize("name", [f"{f}-intercept" for f in FAMILIES])
def test_empty_set_is_zero(name, method):
    """The empty set has effect exactly 0 (atol 1e-10): remove=[[], T] -> first row zeros,
    second row == effect of T; likewise with a target."""
    _, att = case_lo(name)
    p = case_ref(name).p
    T = [1, 2, 3]
    e = np.asarray(att.effects(method, remove=[[], T]), dtype=float)
    assert e.shape == (2, p)
    assert np.abs(e[0]).max() <= 1e-10
    assert_rel(e[1], att.effects(method, remove=T), 1e-9, "second set unchanged")
    Xq, yq = query(name)
    et = np.asarray(att.effects(method, remove=[[], T], target=_target("loss", Xq, yq)))
    assert et.shape == (2, Xq.shape[0]) and np.abs(et[0]).max() <= 1e-10


# =========================================================================== extra contract facts
@pytest.mark.parametrize("family", FAMILIES)
def test_duplicated_row_is_weight_two(family):
    """DESIGN section 4: a duplicated row fits like one row of sample weight 2 (rtol 1e-7,
    both leaveout.fit and the reference)."""
    L = lo()
    X, y = R.make_data(family, n=50, p=6, seed=41)
    Xd, yd = np.vstack([X, X[:1]]), np.r_[y, y[:1]]
    s = np.ones(50)
    s[0] = 2.0
    a = L.fit(Xd, yd, family=family, l2=1.0).params_
    b = L.fit(X, y, family=family, l2=1.0, sample_weight=s).params_
    assert_rel(a, b, 1e-7, "duplicate vs weight 2")
    assert_rel(b, R.Reference(X, y, family, l2=1.0, sample_weight=s).theta, RTOL, "vs reference")
