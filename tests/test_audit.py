"""targets.coefficient and Attributor.smallest_removal (robustness audit).

References: exact refits by ``tests/reference.py`` (cold-start Newton, dense solves, no code
shared with the library) and AMIP's one-shot set computed here from the reference's IF
effects: rows sorted by their IF effect on the coefficient, the prefix scanned by reference
refits.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

import leaveout
from leaveout import targets

_spec = importlib.util.spec_from_file_location(
    "leaveout_tests_reference_audit", pathlib.Path(__file__).with_name("reference.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)


def weak_coefficient_data(seed=0, n=80, p=6):
    """Logistic data whose coefficient 0 is positive but fragile (a small true effect)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    eta = 0.15 * X[:, 0] + X[:, 1] - 0.5 * X[:, 2]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return X, y


def ref_coef_without(X, y, rows, j, l2=1.0):
    keep = np.setdiff1d(np.arange(len(y)), rows)
    Xt = R.design(X[keep], True)
    return R.fit_theta(Xt, y[keep], "logistic", l2, True)[j]


def test_coefficient_target():
    X, y = weak_coefficient_data()
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    t = targets.coefficient(2)
    assert t.shape == ()
    assert att.evaluate(t) == att.params_[2]
    np.testing.assert_allclose(att.effects("rif", target=t), att.effects("rif")[:, 2],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(att.effects("retrain", remove=[[1, 2], [5]], target=t),
                                  att.effects("retrain", remove=[[1, 2], [5]])[:, 2])
    assert att.evaluate(targets.coefficient("intercept")) == att.params_[-1]
    assert att.evaluate(targets.coefficient("x4")) == att.params_[4]
    assert att.evaluate(targets.coefficient(6)) == att.params_[6]  # the intercept's index


def test_coefficient_by_feature_name():
    pd = pytest.importorskip("pandas")
    X, y = weak_coefficient_data()
    df = pd.DataFrame(X, columns=list("abcdef"))
    att = leaveout.Attributor(leaveout.fit(df, y), df, y)
    assert att.evaluate(targets.coefficient("c")) == att.params_[2]
    with pytest.raises(ValueError, match="no parameter of that name; its parameters are 'a'"):
        att.evaluate(targets.coefficient("z"))


@pytest.mark.parametrize("j,exc,match", [
    (7, ValueError, "out of range: the model has 7 parameters"),
    (-1, ValueError, "must be >= 0"),
    (1.0, TypeError, "index \\(int\\) or a feature name"),
    (True, TypeError, "index \\(int\\) or a feature name"),
])
def test_coefficient_bad_index(j, exc, match):
    X, y = weak_coefficient_data()
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    with pytest.raises(exc, match=match):
        att.evaluate(targets.coefficient(j))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_smallest_removal_flips_by_independent_refit_and_beats_amip(seed):
    X, y = weak_coefficient_data(seed)
    n = len(y)
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    b0 = att.params_[0]
    res = att.smallest_removal(targets.coefficient(0), max_rows=n // 4)
    assert res.flipped and res.found_by != "none"
    # the claim, checked by a reference refit that shares no code with the library
    after = ref_coef_without(X, y, res.rows, 0)
    assert np.sign(after) == -np.sign(b0)
    assert res.actual == pytest.approx(after, rel=1e-6, abs=1e-9)
    assert res.value == att.params_[0] and res.threshold == 0.0
    assert len(set(res.rows.tolist())) == res.size <= n // 4
    # AMIP's one-shot set, computed independently: rank by the reference IF effect on β_0
    ref = R.Reference(X, y, "logistic", l2=1.0)
    if_effect = np.linalg.solve(ref.H, ref.G.T)[0]            # Δβ_0 of removing each row
    order = np.argsort(np.sign(b0) * if_effect, kind="stable")  # most opposing first
    smallest_if = next(k for k in range(1, n + 1)
                       if np.sign(ref_coef_without(X, y, order[:k], 0)) == -np.sign(b0))
    assert res.size <= smallest_if
    amip = np.searchsorted(np.cumsum(-np.sign(b0) * if_effect[order]), abs(b0),
                           side="right") + 1
    if amip <= n:
        assert res.size <= amip
    # predicted = the Newton-step estimate of the same set
    est = att.effects("newton", remove=res.rows, target=targets.coefficient(0))
    assert res.predicted == pytest.approx(b0 + est, rel=1e-12)


def test_threshold_and_prediction_target():
    """Move one test prediction's probability below 0.5 (threshold on a probability)."""
    X, y = weak_coefficient_data(3)
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    q = np.array([[0.3, 0.4, 0.0, 0.0, 0.0, 0.0]])
    p0 = att.evaluate(targets.prediction(q))[0]
    thr = p0 - 0.05
    res = att.smallest_removal(targets.prediction(q), threshold=thr, max_rows=20)
    assert res.flipped and res.actual < thr
    keep = np.setdiff1d(np.arange(len(y)), res.rows)
    theta = R.fit_theta(R.design(X[keep], True), y[keep], "logistic", 1.0, True)
    assert R.mean("logistic", R.design(q, True) @ theta)[0] < thr


def test_no_flip_within_budget_says_how_far():
    X, y = weak_coefficient_data(4)
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    res = att.smallest_removal(targets.coefficient(1), max_rows=2)  # a strong coefficient
    assert not res.flipped and res.found_by == "none" and 1 <= res.size <= 2
    after = ref_coef_without(X, y, res.rows, 1)
    assert res.actual == pytest.approx(after, rel=1e-6)
    assert res.moved == pytest.approx(after - res.value, rel=1e-6)
    assert np.sign(res.actual) == np.sign(res.value)
    assert "No set of at most 2 rows" in str(res)


def test_verify_false_claims_nothing():
    X, y = weak_coefficient_data(0)
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    res = att.smallest_removal(targets.coefficient(0), max_rows=20, verify=False)
    assert not res.flipped and np.isnan(res.actual) and res.n_refits == 0
    assert "Not verified" in str(res)


@pytest.mark.parametrize("kw,exc,match", [
    ({"max_rows": 0}, ValueError, "max_rows must be between 1 and the number of training rows"),
    ({"max_rows": 81}, ValueError, "max_rows must be between 1"),
    ({"max_rows": 2.5}, TypeError, "max_rows must be an integer"),
    ({"threshold": np.nan}, ValueError, "threshold must be None"),
    ({"method": "retrain"}, ValueError, "Unknown method 'retrain'"),
    ({"verify": "yes"}, TypeError, "'verify' parameter of smallest_removal must be a bool"),
])
def test_smallest_removal_bad_arguments(kw, exc, match):
    X, y = weak_coefficient_data()
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    with pytest.raises(exc, match=match):
        att.smallest_removal(targets.coefficient(0), **kw)


def test_smallest_removal_needs_a_scalar_target():
    X, y = weak_coefficient_data()
    att = leaveout.Attributor(leaveout.fit(X, y), X, y)
    with pytest.raises(ValueError, match="needs a scalar target"):
        att.smallest_removal(targets.prediction(X[:3]))
    with pytest.raises(ValueError, match="already equals the threshold"):
        att.smallest_removal(targets.coefficient(0), threshold=float(att.params_[0]))
    # one query row without reduce is scalar enough
    res = att.smallest_removal(targets.linear_predictor(X[:1]), max_rows=3)
    assert res.size <= 3


def test_ols_audit_like_zaminfluence():
    """Least squares with l2 = 0 (an adopted LinearRegression), the AMIP setting: the set's
    closed-form refit (np.linalg.lstsq) flips the slope, no larger than the IF-ranked prefix."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(5)
    n = 120
    X = rng.normal(size=(n, 3))
    y = 0.3 * X[:, 0] + X[:, 1] + rng.standard_t(3, size=n)
    att = leaveout.Attributor(LinearRegression().fit(X, y), X, y)
    res = att.smallest_removal(targets.coefficient(0), max_rows=30)
    assert res.flipped

    def slope_without(rows):
        keep = np.setdiff1d(np.arange(n), rows)
        A = np.column_stack([X[keep], np.ones(keep.size)])
        return np.linalg.lstsq(A, y[keep], rcond=None)[0][0]

    b0 = slope_without([])
    assert np.sign(slope_without(res.rows)) == -np.sign(b0)
    A = np.column_stack([X, np.ones(n)])
    e = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    if_effect = -(np.linalg.solve(A.T @ A, A.T) * e)[0]       # Δβ_0 = H⁻¹ g_i, g_i = −e_i x̃_i
    order = np.argsort(np.sign(b0) * if_effect, kind="stable")
    smallest_if = next(k for k in range(1, n + 1)
                       if np.sign(slope_without(order[:k])) == -np.sign(b0))
    assert res.size <= smallest_if
