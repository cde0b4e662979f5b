"""Refined Newton steps, ``effects("newton", steps=k)``, against exact retraining.

Reference: ``tests/reference.py`` (a cold-start damped-Newton refit written with plain NumPy,
sharing no code with leaveout) for every family, with and without intercept and sample weights;
and the squared-loss closed form (the Newton step is already exact, so further steps must stay
exact).  Tolerances are normwise relative, ‖a − b‖ / ‖b‖.
"""

from __future__ import annotations

import importlib.util
import pathlib
import warnings

import numpy as np
import pytest

import leaveout
from leaveout import DegenerateRemovalWarning, NewtonStepsWarning, targets
from leaveout import _refine

_spec = importlib.util.spec_from_file_location(
    "leaveout_tests_reference_steps", pathlib.Path(__file__).with_name("reference.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)

# family, fit_intercept, weighted
SETTINGS = [(f, fi, w) for f in R.FAMILIES for fi, w in ((True, False), (False, False),
                                                          (True, True))]


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _problem(family, fit_intercept, weighted, n=80, p=6, seed=3):
    X, y = R.make_data(family, n=n, p=p, seed=seed)
    s = np.random.default_rng(seed + 1).uniform(0.3, 2.5, n) if weighted else None
    l2 = 0.3
    ref = R.Reference(X, y, family, l2=l2, fit_intercept=fit_intercept, sample_weight=s)
    model = leaveout.fit(X, y, family=family, l2=l2, fit_intercept=fit_intercept,
                         sample_weight=s)
    att = leaveout.Attributor(model, X, y, sample_weight=s)
    # A cluster along feature 0 (the nonlinear regime) with fewer rows than parameters
    # (Woodbury), and with more (the direct factorisation of H − H_T); a random set.
    order = np.argsort(X[:, 0])
    sets = [np.sort(order[:5]), np.sort(order[-12:]),
            np.sort(np.random.default_rng(seed).choice(n, 10, replace=False))]
    return att, ref, sets


@pytest.mark.parametrize("family,fit_intercept,weighted", SETTINGS)
def test_steps_converge_to_retraining(family, fit_intercept, weighted):
    att, ref, sets = _problem(family, fit_intercept, weighted)
    exact = ref.effects_sets("retrain", sets)
    one = att.effects("newton", remove=sets)
    five = att.effects("newton", remove=sets, steps=5)
    info = att.newton_info_
    assert info.contracting.all() and info.unreliable.size == 0
    for k in range(len(sets)):
        e1, e5 = _rel(one[k], exact[k]), _rel(five[k], exact[k])
        if family == "squared":
            # The Newton step is the exact refit; further steps must not move it.
            assert e1 < 1e-9 and e5 < 1e-9, (k, e1, e5)
            assert info.converged[k] and info.steps[k] <= 3
        else:
            assert e1 > 1e-4, (k, e1)  # the cases do exercise the nonlinearity
            assert e5 < 0.1 * e1 and e5 < 4e-3, (k, e1, e5)
            # The geometric-tail estimate of the remaining error does not understate it (the
            # reference refit itself is accurate to about 1e-8).
            assert e5 < 4 * info.error_estimate[k] + 1e-8, (k, e5, info.error_estimate[k])
            # The default rule: a converged set's update is at most tol and its estimated
            # remaining error at most ERROR_SHARE · tol.
            assert info.converged[k], k
            assert info.rel_update[k] <= _refine.DEFAULT_TOL
            assert info.error_estimate[k] <= _refine.ERROR_SHARE * _refine.DEFAULT_TOL
    # At a tight tol the same steps are near-exact.
    tight = att.effects("newton", remove=sets, steps=5, tol=1e-6)
    for k in range(len(sets)):
        e1, e5 = _rel(one[k], exact[k]), _rel(tight[k], exact[k])
        if family != "squared":
            assert e5 < 1e-2 * e1 and e5 < 1e-4, (k, e1, e5)
    # Many steps reach the reference refit to its own accuracy.
    ten = att.effects("newton", remove=sets, steps=30, tol=0.0)
    for k in range(len(sets)):
        assert _rel(ten[k], exact[k]) < 1e-8


@pytest.mark.parametrize("family", R.FAMILIES)
def test_steps_one_is_the_newton_step_bit_for_bit(family):
    att, _, sets = _problem(family, True, True)
    plain = att.effects("newton", remove=sets)
    np.testing.assert_array_equal(att.effects("newton", remove=sets, steps=1), plain)
    np.testing.assert_array_equal(att.effects("newton", remove=sets, steps=1, tol=0.5), plain)
    np.testing.assert_array_equal(att.effects("newton", steps=1), att.effects("newton"))
    info = att.newton_info_
    assert (info.steps == 1).all() and np.isnan(info.rel_update).all()


def test_iterates_approach_retraining_monotonically():
    att, ref, sets = _problem("logistic", True, False)
    exact = ref.effects_sets("retrain", sets)
    errs = [np.array([_rel(d, e) for d, e in zip(att.effects("newton", remove=sets, steps=s,
                                                              tol=0.0), exact)])
            for s in (1, 2, 3, 5)]
    for a, b in zip(errs, errs[1:]):
        assert (b < 0.5 * a).all(), errs


def test_tol_stops_early_and_reports():
    att, ref, sets = _problem("poisson", True, False)
    exact = ref.effects_sets("retrain", sets)
    out = att.effects("newton", remove=sets, steps=50, tol=1e-6)
    info = att.newton_info_
    assert info.converged.all() and (info.steps < 50).all() and (info.steps >= 2).all()
    assert (info.rel_update <= 1e-6).all() and (info.ratio < 1).all()
    for k in range(len(sets)):
        assert _rel(out[k], exact[k]) < 1e-5
    loose = att.effects("newton", remove=sets, steps=50, tol=1e-2)
    assert (att.newton_info_.steps <= info.steps).all()
    assert (att.newton_info_.steps < info.steps).any()
    assert all(_rel(loose[k], exact[k]) < 1e-2 for k in range(len(sets)))


@pytest.mark.parametrize("family", R.FAMILIES)
def test_per_row_steps_approach_leave_one_out(family):
    att, ref, _ = _problem(family, True, True, n=40, p=5)
    rows = np.arange(0, 40, 5)
    exact = ref.effects_sets("retrain", [[i] for i in rows])
    one = att.effects("newton")[rows]
    five = att.effects("newton", steps=5, tol=1e-6)[rows]
    info = att.newton_info_
    assert info.steps.shape == (40,) and info.contracting.all()
    if family == "squared":
        assert max(_rel(five[k], exact[k]) for k in range(rows.size)) < 1e-9
    else:
        for k in range(rows.size):
            assert _rel(five[k], exact[k]) < 1e-3 * _rel(one[k], exact[k]) + 1e-9
    # Per-row refined effects equal the same rows removed as sets one by one.
    as_sets = att.effects("newton", remove=[[i] for i in rows], steps=5, tol=1e-6)
    np.testing.assert_allclose(five, as_sets, rtol=1e-10, atol=1e-14)


def test_targets_use_the_refined_parameters():
    att, ref, sets = _problem("logistic", True, False)
    Xq, yq = R.make_data("logistic", n=5, p=6, seed=99)
    tgt = targets.loss(Xq, yq, reduce="sum")
    deltas = att.effects("newton", remove=sets, steps=5)
    plug = att.effects("newton", remove=sets, target=tgt, steps=5, linearize=False)
    lin = att.effects("newton", remove=sets, target=tgt, steps=5, linearize=True)
    base = att.evaluate(tgt)
    np.testing.assert_allclose(plug, att.evaluate(tgt, att.params_ + deltas) - base, rtol=1e-12)
    grad = ref.target_grad("loss", Xq, yq).sum(axis=0)
    np.testing.assert_allclose(lin, deltas @ grad, rtol=1e-8)
    # Plug-in on refined Δθ approaches the exact change of the target.
    exact = np.array([ref.target_value("loss", ref.theta + d, Xq, yq).sum()
                      for d in ref.effects_sets("retrain", sets)]) - base
    np.testing.assert_allclose(plug, exact, rtol=1e-3)
    plug1 = att.effects("newton", remove=sets, target=tgt, linearize=False)
    assert (np.abs(plug - exact) < 0.05 * np.abs(plug1 - exact)).all()
    # Per-row target effects with steps: the refined per-row Δθ times the target's gradient.
    rows_lin = att.effects("newton", target=tgt, steps=3, linearize=True)
    np.testing.assert_allclose(rows_lin, att.effects("newton", steps=3) @ grad, rtol=1e-8,
                               atol=1e-12)


def _poisson_diverging():
    """Poisson, intercept: 30 zero counts and 10 counts of 10; removing the zeros quadruples the
    rate, so the retained curvature e^η grows far beyond twice its value at θ̂."""
    X = np.random.default_rng(1).normal(size=(40, 2)) * 0.1
    y = np.where(np.arange(40) < 30, 0.0, 10.0)
    att = leaveout.Attributor(leaveout.fit(X, y, family="poisson", l2=1.0), X, y)
    return att, np.arange(30)


def _logistic_half_removed():
    """Logistic, l2 = 0.1: removing the 30 of 60 rows with the smallest feature 0 (nearly all of
    class 0) makes the rest confidently classified: the curvature changes several-fold."""
    rng = np.random.default_rng(13)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(float)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=0.1), X, y)
    return att, np.sort(np.argsort(X[:, 0])[:30])


@pytest.mark.parametrize("make", [_poisson_diverging, _logistic_half_removed])
def test_non_contracting_iteration_is_reported(make):
    att, T = make()
    exact = att.effects("retrain", remove=T)
    newton = att.effects("newton", remove=T)
    other = np.setdiff1d(np.arange(40), T)[:5]
    with pytest.warns(NewtonStepsWarning, match=r"unreliable for set\(s\) 0:"):
        out = att.effects("newton", remove=[T, other], steps=20, tol=1e-8)
    info = att.newton_info_
    assert list(info.unreliable) == [0]
    assert info.error_estimate[0] > 0.01 and not info.converged[0]
    assert info.contracting[1]  # the benign set is unaffected
    assert _rel(out[1], att.effects("retrain", remove=other)) < 1e-6
    # Far from retraining (so returning it silently would be wrong), but finite and no worse
    # than diverging: the estimate stops before an update that grew.
    assert _rel(out[0], exact) > 0.05
    assert np.isfinite(out).all() and np.linalg.norm(out[0]) < 3 * np.linalg.norm(newton)


def test_diverging_update_is_rejected():
    att, T = _poisson_diverging()
    with pytest.warns(NewtonStepsWarning, match="1 did not contract"):
        out = att.effects("newton", remove=T, steps=5)
    info = att.newton_info_
    assert not info.contracting[0] and info.ratio[0] > 1 and np.isinf(info.error_estimate[0])
    # The first refresh already grew: the estimate is the Newton step, unchanged.
    assert info.steps[0] == 1
    np.testing.assert_array_equal(out, att.effects("newton", remove=T))


def test_degenerate_and_empty_sets_unchanged():
    X, y = R.make_data("logistic", n=40, p=3, seed=0)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    ones = np.flatnonzero(y == 1)
    with pytest.warns(DegenerateRemovalWarning):
        out = att.effects("newton", remove=[ones, [], [1, 2]], steps=5)
    assert np.isnan(out[0]).all() and (out[1] == 0).all() and np.isfinite(out[2]).all()
    info = att.newton_info_
    assert list(info.steps[:2]) == [0, 0] and info.steps[2] >= 2
    assert info.converged[1] and info.rel_update[1] == 0


def test_no_runtime_warning_on_overflow():
    # A huge removal on Poisson: η at the Newton iterate may overflow e^η; the iteration must
    # treat it as non-contraction without a NumPy RuntimeWarning.
    X = np.random.default_rng(2).normal(size=(30, 1))
    y = np.where(np.arange(30) < 27, 0.0, 400.0)
    att = leaveout.Attributor(leaveout.fit(X, y, family="poisson", l2=1e-3), X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = att.effects("newton", remove=np.arange(27), steps=10)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert np.isfinite(out).all()


def test_newton_info_repr_and_fields():
    att, _, sets = _problem("logistic", True, False)
    att.effects("newton", remove=sets[0], steps=4)
    info = att.newton_info_
    assert info.steps.shape == (1,) and info.tol == _refine.DEFAULT_TOL == 1e-2
    assert "NewtonInfo(n_sets=1" in repr(info)
    with pytest.raises(AttributeError):
        info.tol = 1.0  # frozen


def test_plain_chord_is_the_written_out_iteration(monkeypatch):
    # MEMORY = 0 is the plain chord Δᵗ⁺¹ = Δᵗ − (H − H_T)⁻¹ ∇L₋T(θ̂ + Δᵗ); written out here with
    # np.linalg.solve on the reference's own H, gradient and data.
    from leaveout import _refine

    att, ref, sets = _problem("poisson", True, True)
    monkeypatch.setattr(_refine, "MEMORY", 0)
    got = att.effects("newton", remove=sets, steps=4, tol=0.0)
    for T, g in zip(sets, got):
        keep = np.setdiff1d(np.arange(ref.n), T)
        HT = (ref.Xt[T] * ref.w[T, None]).T @ ref.Xt[T]
        J = ref.H - HT
        d = np.linalg.solve(J, ref.G[T].sum(axis=0))
        for _ in range(3):
            grad = R.gradient(ref.theta + d, ref.Xt[keep], ref.y[keep], "poisson", ref.l2, True,
                              ref.s[keep])
            d = d - np.linalg.solve(J, grad)
        np.testing.assert_allclose(g, d, rtol=1e-8)


def _logistic_column_carried_by_the_set():
    """Logistic: column 1 is nonzero on rows 0–11 only; removing rows 0–9 leaves that direction
    to two confidently classified rows, whose curvature changes several-fold."""
    rng = np.random.default_rng(0)
    X = np.zeros((40, 2))
    X[:, 0] = rng.normal(size=40)
    y = (X[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(float)
    X[:12, 1] = 3 * (2 * y[:12] - 1)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=0.1), X, y)
    return att, np.arange(10)


def test_secant_correction_converges_where_the_plain_chord_oscillates(monkeypatch):
    from leaveout import _refine

    att, T = _logistic_column_carried_by_the_set()
    exact = att.effects("retrain", remove=T)
    fixed = att.effects("newton", remove=T, steps=10, tol=1e-8)
    assert _rel(fixed, exact) < 1e-8 and att.newton_info_.converged[0]
    monkeypatch.setattr(_refine, "MEMORY", 0)
    with pytest.warns(NewtonStepsWarning, match="contract too slowly"):
        chord = att.effects("newton", remove=T, steps=10)
    assert _rel(chord, exact) > 0.05  # a period-2 oscillation around the refit


def test_singular_set_stays_nan_and_is_not_iterated():
    # Squared loss, l2 = 0: column 3 is nonzero on rows 0 and 1 only, so removing both makes
    # H − H_T singular; the Newton step's HighLeverageWarning and NaN are kept, no step taken.
    from leaveout import HighLeverageWarning

    X, y = R.make_data("squared", n=30, p=3, seed=4)
    X = np.column_stack([X, np.r_[1.0, -2.0, np.zeros(28)]])
    att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=0.0), X, y)
    with pytest.warns(HighLeverageWarning, match="makes the Hessian singular"):
        out = att.effects("newton", remove=[[0, 1], [5, 6]], steps=5)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
    info = att.newton_info_
    assert info.steps[0] == 0 and info.contracting[0] and not info.converged[0]
    np.testing.assert_allclose(out[1], att.effects("retrain", remove=[5, 6]), rtol=1e-9)


def test_steps_with_labelled_results():
    pytest.importorskip("pandas")
    att, _, sets = _problem("logistic", True, False)
    frame = att.effects("newton", remove=sets, steps=3, as_frame=True)
    np.testing.assert_array_equal(frame.to_numpy(), att.effects("newton", remove=sets, steps=3))


@pytest.mark.parametrize("n,p", [(120, 20), (40, 300)])  # primal, and wide (kernel solver)
def test_steps_through_sparse_and_wide_designs(n, p):
    # The refresh only asks the design for X̃θ and X̃ᵀr and the solver for H⁻¹v: sparse CSR
    # input and the kernel form (p ≫ n) give the dense primal answer, near the refit.
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(p)
    Xs = sparse.random(n, p, density=0.2, random_state=p, format="csr") * 3
    y = (rng.random(n) < 1 / (1 + np.exp(-(Xs @ rng.normal(size=p))))).astype(float)
    Xd = Xs.toarray()
    att_s = leaveout.Attributor(leaveout.fit(Xs, y, l2=1.0), Xs, y)
    att_d = leaveout.Attributor(leaveout.fit(Xd, y, l2=1.0), Xd, y)
    sets = [np.arange(6), np.sort(rng.choice(n, 12, replace=False))]
    five = att_s.effects("newton", remove=sets, steps=5)
    np.testing.assert_allclose(five, att_d.effects("newton", remove=sets, steps=5), rtol=1e-9,
                               atol=1e-12)
    exact = att_d.effects("retrain", remove=sets)
    one = att_d.effects("newton", remove=sets)
    for k in range(2):
        assert _rel(five[k], exact[k]) < min(0.1 * _rel(one[k], exact[k]), 2e-3)


@pytest.mark.parametrize("family", R.FAMILIES)
def test_steps_on_a_dense_design_of_several_chunks(family):
    # X of > 1 MB: the refresh loops over the design's row chunks (_refine._chunked_gradient);
    # it must give the generic sweep's answer (the sparse design's) and approach the refit.
    from leaveout.designs.dense import DenseDesign
    sparse = pytest.importorskip("scipy.sparse")
    X, y = R.make_data(family, n=3000, p=60, seed=11)
    assert not DenseDesign(X, True).single_fused_slice
    model = leaveout.fit(X, y, family=family, l2=0.5)
    att = leaveout.Attributor(model, X, y)
    att_s = leaveout.Attributor(model, sparse.csr_matrix(X), y)
    rng = np.random.default_rng(2)
    T = np.sort(rng.choice(3000, 90, replace=False))
    five = att.effects("newton", remove=T, steps=5, tol=0)
    np.testing.assert_allclose(five, att_s.effects("newton", remove=T, steps=5, tol=0),
                               rtol=1e-9, atol=1e-13)
    exact = att.effects("retrain", remove=T)
    one = att.effects("newton", remove=T)
    if family != "squared":
        assert _rel(five, exact) < 0.01 * _rel(one, exact)
    else:
        assert _rel(five, exact) < 1e-10


@pytest.mark.parametrize("family,fit_intercept,weighted", SETTINGS)
def test_steps_with_more_than_whitened_min_params(family, fit_intercept, weighted):
    # p > WHITENED_MIN_PARAMS: the Newton step of a refined set from one triangular product
    # and the explicit H⁻¹ (_refine.whitened_newton) — the plain step's answer to rounding,
    # then refined to the refit; sets side by side equal one at a time.
    p = _refine.WHITENED_MIN_PARAMS + 20
    X, y = R.make_data(family, n=700, p=p, seed=21)
    s = np.random.default_rng(4).uniform(0.3, 2.5, 700) if weighted else None
    model = leaveout.fit(X, y, family=family, l2=2.0, fit_intercept=fit_intercept,
                         sample_weight=s)
    att = leaveout.Attributor(model, X, y, sample_weight=s, solver="primal")
    rng = np.random.default_rng(6)
    sets = [np.sort(rng.choice(700, 30, replace=False)), np.argsort(X[:, 0])[:20]]
    one = att.effects("newton", remove=sets)
    first = att.effects("newton", remove=sets[0], steps=2, tol=0)  # Δ⁰ and one refresh
    assert _rel(first, one[0]) < 0.5
    exact = att.effects("retrain", remove=sets)
    each = np.array([att.effects("newton", remove=T, steps=6, tol=0) for T in sets])
    together = att.effects("newton", remove=sets, steps=6, tol=0)
    np.testing.assert_allclose(together, each, rtol=1e-9, atol=1e-13)
    for k in range(2):
        assert _rel(each[k], exact[k]) < max(0.01 * _rel(one[k], exact[k]), 1e-9)


def test_whitened_newton_step_equals_the_plain_step():
    X, y = R.make_data("logistic", n=700, p=_refine.WHITENED_MIN_PARAMS + 10, seed=2)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y, solver="primal")
    st = att._state
    T = np.arange(25)
    sw = np.sqrt(st.w[T])
    step, solve = _refine.whitened_newton(st.factor, st.design.rows(T), st.r[T], sw)
    np.testing.assert_allclose(step, att.effects("newton", remove=T), rtol=1e-10, atol=1e-14)
    v = np.random.default_rng(0).normal(size=st.design.n_params)
    S = st.design.rows(T) * sw[:, None]
    J = st.H - S.T @ S
    np.testing.assert_allclose(solve(v), np.linalg.solve(J, v), rtol=1e-9)


def test_stopping_rule_holds_back_slowly_contracting_sets():
    # The same update of 0.5 % settles a set that contracts fast (ratio 0.01: remaining error
    # ≈ 5e-5) but not one that contracts slowly (ratio 0.5: ≈ 5e-3, above ERROR_SHARE · tol).
    tol = 1e-2
    assert _refine.settled(5e-3, 0.01, tol)
    assert not _refine.settled(5e-3, 0.5, tol)
    assert not _refine.settled(2e-2, 0.0, tol)          # the update itself above tol
    assert _refine.settled(0.0, 0.0, 0.0)               # tol=0: only an exact fixed point
    got = _refine.settled(np.array([5e-3, 5e-3, 1e-4]), np.array([0.01, 0.5, 0.5]), tol)
    np.testing.assert_array_equal(got, [True, False, True])
