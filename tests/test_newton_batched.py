"""Refined Newton steps run side by side (``_refine.chord_many``) and their fast paths.

The lock-step iteration over many sets must be the same iteration as one set alone (the scalar
``_refine.chord``) up to rounding; the batched gradient refresh must equal an independent NumPy
formula for the retained objective's gradient; the explicit J⁻¹ must equal the Woodbury and
Cholesky solves; and the fast paths for plain integer index arrays must keep every refusal.
"""

from __future__ import annotations

import importlib.util
import pathlib
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import linalg
from scipy.special import expit

import leaveout
from leaveout import _refine
from leaveout.designs import dense

_spec = importlib.util.spec_from_file_location(
    "leaveout_tests_reference_batched", pathlib.Path(__file__).with_name("reference.py"))
R = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(R)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _setup(family="logistic", n=150, p=8, fit_intercept=True, weighted=True, seed=5):
    X, y = R.make_data(family, n=n, p=p, seed=seed)
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.3, 2.5, n) if weighted else None
    model = leaveout.fit(X, y, family=family, l2=0.5, fit_intercept=fit_intercept,
                         sample_weight=s)
    att = leaveout.Attributor(model, X, y, sample_weight=s)
    order = np.argsort(X[:, 0])
    # Woodbury sets (k < p), direct ones (k > p), a single row, random and clustered.
    sets = [np.sort(order[:4]), np.sort(order[-20:]), np.array([7]),
            np.sort(rng.choice(n, 12, replace=False)), np.sort(order[40:45]),
            np.sort(rng.choice(n, 3, replace=False))]
    return X, y, s, att, sets, R.Reference(X, y, family, l2=0.5, fit_intercept=fit_intercept,
                                           sample_weight=s)


@pytest.mark.parametrize("family", R.FAMILIES)
@pytest.mark.parametrize("fit_intercept,weighted", [(True, True), (False, False)])
def test_sets_side_by_side_equal_one_set_at_a_time(family, fit_intercept, weighted):
    *_, att, sets, ref = _setup(family, fit_intercept=fit_intercept, weighted=weighted)
    together = att.effects("newton", remove=sets, steps=4, tol=0)
    info_together = att.newton_info_
    alone = np.array([att.effects("newton", remove=T, steps=4, tol=0) for T in sets])
    steps_alone = [att.effects("newton", remove=T, steps=4, tol=0) is not None
                   and att.newton_info_.steps[0] for T in sets]
    for a, b in zip(together, alone):
        assert _rel(a, b) < 1e-10
    if family != "squared":  # (squared loss: the Newton step is exact, later steps are
        np.testing.assert_array_equal(info_together.steps, steps_alone)  # rounding noise)
    exact = ref.effects_sets("retrain", sets)
    for a, e in zip(together, exact):  # and both approach the independent refit
        assert _rel(a, e) < 1e-5


def test_many_sets_in_batches_equal_one_by_one(monkeypatch):
    *_, att, sets, _ = _setup()
    monkeypatch.setattr(_refine, "SETS_AT_ONCE", 4)  # two batches, the second partial
    together = att.effects("newton", remove=sets, steps=6)
    alone = np.array([att.effects("newton", remove=T, steps=6) for T in sets])
    assert max(_rel(a, b) for a, b in zip(together, alone)) < 1e-9


def test_batched_gradients_equal_an_independent_formula(monkeypatch):
    X, y, s, att, sets, _ = _setup("poisson", n=300, p=5)
    st = att._state
    rng = np.random.default_rng(0)
    D = rng.normal(scale=0.05, size=(len(sets), X.shape[1] + 1))
    expect = []
    for T, d in zip(sets, D):
        theta = st.theta + d
        keep = np.ones(X.shape[0], bool)
        keep[T] = False
        eta = X @ theta[:-1] + theta[-1]
        r = (s * (np.exp(eta) - y))[keep]
        g = np.append(X[keep].T @ r, r.sum())
        g[:-1] += 0.5 * theta[:-1]                       # the intercept is not penalised
        expect.append(g)
    one_chunk = _refine.retained_gradients(st, sets, D)
    monkeypatch.setattr(dense, "FUSED_BYTES", 8 * 5 * 64)  # 64-row chunks: five of them
    assert not st.design.single_fused_slice
    chunked = _refine.retained_gradients(st, sets, D)
    closures = np.array([_refine.set_gradient(st, T)(d) for T, d in zip(sets, D)])
    for got in (one_chunk, chunked, closures):
        np.testing.assert_allclose(got, np.array(expect), rtol=1e-12, atol=1e-11)


def test_explicit_inverse_equals_the_solves():
    *_, att, sets, _ = _setup(n=200, p=10)
    st = att._state
    rng = np.random.default_rng(1)
    for T in (sets[0], sets[3]):                         # Woodbury sets, k < p
        X_T = st.design.rows(T)
        B_T = st.solved_rows(T)
        sw = np.sqrt(st.w[T])
        S = X_T * sw[:, None]
        M = np.eye(T.size) - S @ B_T.T * sw[None, :]
        cM = linalg.cho_factor(M, lower=True)
        J = st.H - S.T @ S
        v = rng.normal(size=J.shape[0])
        ref = linalg.solve(J, v, assume_a="pos")
        wood = _refine.WoodburySolve(st.factor, X_T, B_T, sw, cM)(v)
        expl = _refine.ExplicitSolve(st.factor, B_T, sw, cM)(v)
        assert _rel(wood, ref) < 1e-12 and _rel(expl, ref) < 1e-12
    c = linalg.cho_factor(st.H, lower=True)
    v = rng.normal(size=st.H.shape[0])
    np.testing.assert_allclose(_refine.ExplicitSolve.from_cholesky(c)(v),
                               linalg.cho_solve(c, v), rtol=1e-12)


def test_explicit_and_woodbury_curvature_reach_the_same_fixed_point(monkeypatch):
    *_, att, sets, ref = _setup()
    explicit = att.effects("newton", remove=sets, steps=12, tol=0)
    monkeypatch.setattr(_refine, "SOLVE_OVERHEAD_FLOPS", -10**12)  # never explicit
    solves = att.effects("newton", remove=sets, steps=12, tol=0)
    exact = ref.effects_sets("retrain", sets)
    for a, b, e in zip(explicit, solves, exact):
        assert _rel(a, b) < 1e-9 and _rel(a, e) < 1e-8


def test_sparse_design_refines_through_its_own_gradients():
    X, y, s, att, sets, _ = _setup(n=120, p=6)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.3, X, 0.0))
    m_d = leaveout.fit(Xs.toarray(), y, l2=0.5, sample_weight=s)
    m_s = leaveout.fit(Xs, y, l2=0.5, sample_weight=s)
    a_d = leaveout.Attributor(m_d, Xs.toarray(), y, sample_weight=s)
    a_s = leaveout.Attributor(m_s, Xs, y, sample_weight=s)
    d = a_d.effects("newton", remove=sets, steps=5)
    e = a_s.effects("newton", remove=sets, steps=5)
    assert max(_rel(a, b) for a, b in zip(d, e)) < 1e-8


def test_per_row_refinement_side_by_side_matches_leave_one_out():
    X, y, s, att, _, ref = _setup("logistic", n=60, p=5)
    rows = att.effects("newton", steps=6, tol=1e-9)
    exact = ref.effects_sets("retrain", [np.array([i]) for i in range(0, 60, 7)])
    for i, e in zip(range(0, 60, 7), exact):
        assert _rel(rows[i], e) < 1e-8
    assert att.newton_info_.steps.shape == (60,)


def test_degenerate_and_singular_sets_among_refined_ones_stay_nan():
    X, y = R.make_data("logistic", n=40, p=3, seed=2)
    model = leaveout.fit(X, y, l2=0.5)
    att = leaveout.Attributor(model, X, y)
    ones = np.flatnonzero(y == 1)
    sets = [np.array([0, 1]), ones, np.array([2, 3, 4])]  # removing every y = 1 row: NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = att.effects("newton", remove=sets, steps=5)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
    assert att.newton_info_.steps[1] == 0 and (att.newton_info_.steps[[0, 2]] >= 2).all()


def test_fast_logistic_derivative_is_exact_to_absolute_rounding():
    from leaveout.families.logistic import Logistic

    fam = Logistic()
    eta = np.linspace(-40, 40, 2001)
    for y in (0.0, 1.0, 0.3):
        exact = (1 - y) * expit(eta) - y * expit(-eta)
        np.testing.assert_allclose(fam.d1_fast(eta, y), exact, rtol=0, atol=4.5e-16)  # 2 ulp of 1


def test_fast_index_paths_keep_every_refusal():
    X, y = R.make_data("logistic", n=30, p=2, seed=1)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    for bad, msg in ((np.array([3, 30]), "out of range"), (np.array([-1, 2]), "negative"),
                     (np.array([4, 2, 4]), "repeats row index 4"),
                     (np.arange(30), "removes all 30")):
        with pytest.raises(ValueError, match=msg):
            att.effects("if", remove=bad)
        with pytest.raises(ValueError, match=msg):
            att.effects("if", remove=[np.array([1]), bad])
    with pytest.raises(ValueError, match=r"remove\[1\] repeats"):
        att.effects("if", remove=[np.array([1]), np.array([2, 2])])
    pd = pytest.importorskip("pandas")
    Xf = pd.DataFrame(X, index=[f"r{i}" for i in range(30)])
    att_f = leaveout.Attributor(leaveout.fit(Xf, y, l2=1.0), Xf, y)
    with pytest.raises(ValueError, match="plain integers"):
        att_f.effects("if", remove=np.array([1, 2]))
    with pytest.raises(ValueError, match="plain integers"):
        att_f.effects("if", remove=[np.array([1, 2])])
    np.testing.assert_array_equal(att_f.effects("if", remove=np.array([1, 2]), by="position"),
                                  att.effects("if", remove=[1, 2]))


def test_dense_bfgs_matrix_is_the_two_loop_recursion():
    rng = np.random.default_rng(3)
    p = 7
    A = rng.normal(size=(p, p))
    J_inv = A @ A.T + p * np.eye(p)
    dense_ = _refine._DenseBFGS(J_inv)
    pairs = []
    for _ in range(4):
        s = rng.normal(size=p)
        y = s + 0.3 * rng.normal(size=p)  # sᵀy > 0
        rho = 1.0 / float(s @ y)
        dense_.update(s, y, rho)
        pairs.append((s, y, rho))
        g = rng.normal(size=p)
        np.testing.assert_allclose(dense_(g), _refine._two_loop(g, lambda v: J_inv @ v, pairs),
                                   rtol=1e-12)


def test_one_set_with_explicit_curvature_equals_the_two_loop_path(monkeypatch):
    *_, att, sets, _ = _setup("poisson")
    dense_path = [att.effects("newton", remove=T, steps=6, tol=0) for T in sets]
    monkeypatch.setattr(_refine, "SOLVE_OVERHEAD_FLOPS", -10**12)  # Woodbury: the two-loop
    two_loop = [att.effects("newton", remove=T, steps=6, tol=0) for T in sets]
    for a, b in zip(dense_path, two_loop):
        assert _rel(a, b) < 1e-10
