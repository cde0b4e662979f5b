"""Property-based tests (hypothesis): facts of DESIGN.md §4 that hold for every input.

Hypothesis draws the shape of a problem (family, n, p, l2, a seed for the data) and the removal
sets; the data themselves come from ``make_data`` so that every draw is a well-posed problem.
Small sizes and ~30 examples per property keep the file fast.
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import leaveout  # noqa: E402
from leaveout import targets  # noqa: E402
from conftest import make_data  # noqa: E402

FAST = settings(max_examples=30, deadline=None)
FAMILY = st.sampled_from(sorted(leaveout.FAMILIES))
L2 = st.sampled_from([0.1, 1.0, 10.0])
SEED = st.integers(0, 2**31 - 1)


def _usable(family, y):
    """Labels whose penalised fit has a finite optimum (both classes / some nonzero count)."""
    if family == "logistic":
        return 0 < y.sum() < y.size
    if family == "poisson":
        return y.sum() > 0
    return True


@st.composite
def problems(draw, family=FAMILY, l2=L2, n=st.integers(15, 50), p=st.integers(1, 5),
             weighted=st.booleans()):
    """(X, y, sample_weight, family, l2) of a well-posed problem."""
    family, l2, n, p, seed = draw(family), draw(l2), draw(n), draw(p), draw(SEED)
    X, y = make_data(family, n=n, p=p, seed=seed)
    assume(_usable(family, y))
    sw = np.random.default_rng(seed).uniform(0.5, 2.0, size=n) if draw(weighted) else None
    return X, y, sw, family, l2


def attributor(X, y, sw, family, l2):
    return leaveout.Attributor(leaveout.fit(X, y, family=family, l2=l2, sample_weight=sw),
                               X, y, sw)


def subset(draw, n, min_size=1, max_size=None):
    return draw(st.lists(st.integers(0, n - 1), min_size=min_size,
                         max_size=max_size or max(min_size, n // 3), unique=True))


def close(a, b, rtol=1e-9):
    """Equal to ``rtol`` relative to the larger of the two arrays' magnitudes."""
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


# -- equivariance and the empty set -----------------------------------------------------------
@FAST
@given(problems(), st.data())
def test_row_permutation_permutes_leverage_and_effects(problem, data):
    X, y, sw, family, l2 = problem
    n = X.shape[0]
    perm = np.asarray(data.draw(st.permutations(range(n))))
    T = subset(data.draw, n)
    a = attributor(X, y, sw, family, l2)
    b = attributor(X[perm], y[perm], None if sw is None else sw[perm], family, l2)
    inv = np.argsort(perm)                    # row i of the original is row inv[i] of b
    close(b.leverage, a.leverage[perm])
    for m in ("if", "rif", "newton"):
        close(b.effects(m), a.effects(m)[perm])
    tq = targets.loss(X[:3], y[:3], reduce="sum")
    close(b.effects("rif", target=tq), a.effects("rif", target=tq)[perm])
    for m in leaveout.METHODS:
        close(b.effects(m, remove=inv[T]), a.effects(m, remove=T), rtol=1e-8)


@FAST
@given(problems())
def test_empty_set_has_exactly_zero_effect(problem):
    a = attributor(*problem)
    t = targets.prediction(problem[0][:4])
    for m in leaveout.METHODS:
        assert np.all(a.effects(m, remove=[]) == 0.0)
        assert np.all(a.effects(m, remove=[], target=t) == 0.0)
        assert np.all(a.effects(m, remove=np.zeros(len(problem[1]), dtype=bool)) == 0.0)


# -- IF and RIF -------------------------------------------------------------------------------
@FAST
@given(problems(), st.data())
def test_if_and_rif_are_additive_over_rows(problem, data):
    a = attributor(*problem)
    y, family = problem[1], problem[3]
    n = len(y)
    sets = [subset(data.draw, n) for _ in range(3)]
    # A set that leaves one class (or only zero counts) has no finite optimum: its effect is
    # NaN by design (DegenerateRemovalWarning) while the per-row sum is finite, so additivity
    # is a statement about the other sets.
    sets = [T for T in sets if _usable(family, np.delete(y, T))]
    assume(sets)
    t = targets.loss(problem[0][:5], problem[1][:5], reduce="sum")
    for m in ("if", "rif"):
        rows, rows_t = a.effects(m), a.effects(m, target=t, linearize=True)
        sums = np.stack([rows[T].sum(axis=0) for T in sets])
        close(a.effects(m, remove=sets), sums, rtol=1e-11)
        close(a.effects(m, remove=sets, target=t, linearize=True), np.array([rows_t[T].sum() for T in sets]),
              rtol=1e-11)


@FAST
@given(problems())
def test_rif_is_if_scaled_up_by_one_over_one_minus_leverage(problem):
    a = attributor(*problem)
    h = a.leverage
    assert np.all(h >= 0.0) and np.all(h < 1.0)
    IF, RIF = a.effects("if"), a.effects("rif")
    # A row alone in its class has no finite leave-one-out optimum: NaN from both methods
    # (DegenerateRemovalWarning); the identity holds on the other rows.
    ok = np.isfinite(IF).all(axis=1)
    assert np.array_equal(ok, np.isfinite(RIF).all(axis=1))
    IF, RIF, h = IF[ok], RIF[ok], h[ok]
    close(RIF * (1.0 - h)[:, None], IF, rtol=1e-12)
    assert np.all(np.abs(RIF) >= np.abs(IF))              # elementwise: 1 / (1 − h) ≥ 1
    assert np.all(np.sign(RIF) == np.sign(IF))            # the same direction


# -- the fit ----------------------------------------------------------------------------------
@FAST
@given(problems(weighted=st.just(False)), st.data())
def test_duplicated_rows_fit_like_integer_weights(problem, data):
    # Row i repeated c_i times (c_i = 0 drops it) is the fit with sample weights c.
    X, y, _, family, l2 = problem
    counts = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=len(y),
                                           max_size=len(y))))
    assume(counts.sum() >= 5 and _usable(family, y[counts > 0]))
    rep = np.repeat(np.arange(len(y)), counts)
    dup = leaveout.fit(X[rep], y[rep], family=family, l2=l2)
    weighted = leaveout.fit(X, y, family=family, l2=l2, sample_weight=counts.astype(float))
    close(dup.params_, weighted.params_, rtol=1e-10)


@FAST
@given(problems(l2=st.just(0.0), n=st.integers(40, 60), p=st.integers(1, 3),
                weighted=st.just(False)), SEED, st.data())
def test_unpenalised_prediction_effects_invariant_under_linear_reparametrisation(
        problem, seed, data):
    # With l2 = 0 and an intercept, X → X A + 1 cᵀ (A invertible) reparametrises the same model:
    # leverages and every estimator's effect on the linear predictor are unchanged.
    X, y, _, family, _ = problem
    p = X.shape[1]
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    A = Q * rng.uniform(0.5, 2.0, size=p)                 # condition number ≤ 4
    c = rng.normal(size=p)
    Xq = make_data(family, n=4, p=p, seed=seed)[0]
    try:
        a = attributor(X, y, None, family, 0.0)
    except leaveout.ConvergenceError:                     # separable draw: no finite optimum
        assume(False)
    b = attributor(X @ A + c, y, None, family, 0.0)
    close(b.leverage, a.leverage, rtol=1e-8)
    ta, tb = targets.linear_predictor(Xq), targets.linear_predictor(Xq @ A + c)
    for m in ("if", "rif", "newton"):
        close(b.effects(m, target=tb), a.effects(m, target=ta), rtol=1e-8)
    T = subset(data.draw, len(y), max_size=5)
    for m in leaveout.METHODS:
        close(b.effects(m, remove=T, target=tb), a.effects(m, remove=T, target=ta), rtol=1e-7)


# -- squared loss: the closed forms -----------------------------------------------------------
@FAST
@given(problems(family=st.just("squared"), l2=st.sampled_from([0.0, 0.1, 1.0, 10.0])),
       st.data())
def test_squared_newton_is_retrain_for_any_set(problem, data):
    a = attributor(*problem)
    n = len(problem[1])
    sets = [subset(data.draw, n, max_size=n // 2) for _ in range(3)]
    close(a.effects("newton", remove=sets), a.effects("retrain", remove=sets), rtol=1e-9)


@FAST
@given(problems(family=st.just("squared"), l2=st.sampled_from([0.0, 0.1, 1.0, 10.0])))
def test_squared_single_row_rif_is_retrain(problem):
    a = attributor(*problem)
    close(a.effects("rif"), a.effects("retrain"), rtol=1e-9)


def test_property_tests_are_derandomised_by_default():
    # conftest.py loads the "ci" profile: the same examples on every run, no example database
    # (LEAVEOUT_HYPOTHESIS_PROFILE=explore draws random ones, by hand).
    import os

    if os.environ.get("LEAVEOUT_HYPOTHESIS_PROFILE", "ci") != "ci":
        pytest.skip("another hypothesis profile was asked for")
    assert FAST.derandomize and FAST.database is None and FAST.max_examples == 30
    assert settings.default.derandomize
