"""The explicit triangular inverse L⁻¹ (from the Cholesky factor, LAPACK trtri) applied by BLAS
trmm, against the Cholesky solves it replaces: the same answer to 1e-10 on well-conditioned data,
and no less accurate than the solves on ill-conditioned data (reference: an extended-precision
Cholesky solve written here, sharing no code with the library)."""

import warnings

import numpy as np
import pytest
from scipy import linalg

import leaveout
from conftest import make_data
from leaveout._solve import factorize


def _solve_based(att):
    """All-row IF/RIF and leverages by Cholesky solves: B = H⁻¹X̃ᵀ, h = w·diag(X̃B)."""
    st = att._state
    Xt = np.column_stack([st.design.X, np.ones(att.n_samples)]) if att.fit_intercept \
        else st.design.X
    B = linalg.cho_solve(linalg.cho_factor(st.H, lower=True), Xt.T).T
    h = st.w * np.einsum("ij,ij->i", Xt, B)
    return h, B * st.r[:, None], B * (st.r / (1 - h))[:, None]


@pytest.mark.parametrize("family", sorted(leaveout.FAMILIES))
def test_all_row_effects_match_solves_on_well_conditioned_data(family):
    # n > CHUNK_ROWS: several chunks, with the leverages cached on the way.
    X, y = make_data(family, n=4200, p=25, seed=5)
    att = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=1.0), X, y)
    h, if_, rif = _solve_based(att)
    for got, ref in ((att.effects("rif"), rif), (att.leverage, h), (att.effects("if"), if_)):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    # The leverages from the rif pass are the ones a leverage-only pass gives, bit for bit.
    fresh = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=1.0), X, y)
    np.testing.assert_array_equal(fresh.leverage, att.leverage)


def _longdouble_solve(H, B):
    """H⁻¹B by a Cholesky factorisation in extended precision (np.longdouble)."""
    H = np.array(H, dtype=np.longdouble)
    p = H.shape[0]
    L = np.zeros_like(H)
    for j in range(p):
        d = H[j, j] - np.dot(L[j, :j], L[j, :j])
        L[j, j] = np.sqrt(d)
        for i in range(j + 1, p):
            L[i, j] = (H[i, j] - np.dot(L[i, :j], L[j, :j])) / L[j, j]
    Y = np.array(B, dtype=np.longdouble)
    for i in range(p):  # forward: L Y = B
        Y[i] = (Y[i] - L[i, :i] @ Y[:i]) / L[i, i]
    for i in reversed(range(p)):  # backward: Lᵀ X = Y
        Y[i] = (Y[i] - L[i + 1:, i] @ Y[i + 1:]) / L[i, i]
    return Y


@pytest.mark.parametrize("eps", [1e-5, 1e-6, 1e-7])
def test_triangular_products_are_no_worse_than_solves_when_ill_conditioned(eps):
    # The IllConditionedWarning case of docs/edge-cases.md: a column that is another plus a
    # tiny perturbation, l2 = 0 (scaled condition numbers 1e11 - 1e16).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    X = np.column_stack([X[:, :2], X[:, 0] + eps * np.cos(np.arange(120))])
    Xt = np.column_stack([X, np.ones(120)])
    w = rng.uniform(0.05, 0.25, size=120)
    H = Xt.T @ (Xt * w[:, None])
    f = factorize(H)
    ref = _longdouble_solve(H, Xt.T).T.astype(np.float64)   # rows H⁻¹x̃_i
    by_solve = f.solve(Xt.T).T
    by_trmm = f.unwhiten_rows(f.whiten_rows(Xt.copy()))
    err_solve = np.abs(by_solve - ref).max()
    err_trmm = np.abs(by_trmm - ref).max()
    assert err_trmm <= 4 * err_solve + 1e-15 * np.abs(ref).max(), (err_trmm, err_solve)
    # Leverages w_i ‖L⁻¹x̃_i‖² against w_i x̃_i·H⁻¹x̃_i in extended precision.
    lev_ref = w * np.einsum("ij,ij->i", Xt, ref)
    lev_trmm = w * np.einsum("ij,ij->i", *(2 * [f.whiten_rows(Xt.copy())]))
    lev_solve = w * np.einsum("ij,ij->i", Xt, by_solve)
    assert np.abs(lev_trmm - lev_ref).max() <= 4 * np.abs(lev_solve - lev_ref).max() + 1e-15


def test_ill_conditioned_attributor_effects_no_worse_than_solves():
    X, y = make_data("logistic", n=150, p=3, seed=2)
    X = np.column_stack([X[:, :2], X[:, 0] + 1e-6 * np.cos(np.arange(150))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att = leaveout.Attributor(leaveout.fit(X, y, l2=0.0), X, y)
    assert att.scaled_condition_number_ > 1e12
    st = att._state
    Xt = np.column_stack([X, np.ones(150)])
    ref = _longdouble_solve(st.H, Xt.T).T.astype(np.float64)
    ref_rif = ref * (st.r / (1 - st.w * np.einsum("ij,ij->i", Xt, ref)))[:, None]
    _, _, by_solve = _solve_based(att)
    err_solve = np.abs(by_solve - ref_rif).max()
    err_fast = np.abs(att.effects("rif") - ref_rif).max()
    assert err_fast <= 4 * err_solve + 1e-15 * np.abs(ref_rif).max(), (err_fast, err_solve)


# -- the explicit H⁻¹ = L⁻ᵀL⁻¹ (LAPACK lauum on trtri's L⁻¹), applied by one gemm per block ---

def test_explicit_inverse_matches_solves_and_is_symmetric():
    # Reference: Cholesky solves of H against the identity (LAPACK potrs), to 1e-12.
    rng = np.random.default_rng(4)
    A = rng.normal(size=(400, 30))
    H = A.T @ A + np.eye(30)
    f = factorize(H)
    ref = f.solve(np.eye(30))
    inv = f.inverse
    np.testing.assert_allclose(inv, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_array_equal(inv, inv.T)
    assert inv.flags.c_contiguous and not inv.flags.writeable


@pytest.mark.parametrize("family", sorted(leaveout.FAMILIES))
@pytest.mark.parametrize("method", ["if", "rif"])
def test_explicit_and_triangular_row_products_agree(family, method):
    # Two derived inverses, one answer: gemm with H⁻¹ against the two trmm with L⁻¹, 1e-10
    # relative; well-conditioned data (so effects("rif") takes the explicit path).
    from leaveout.estimators import EXPLICIT_MAX_COND

    X, y = make_data(family, n=2500, p=40, seed=6)
    att = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=1.0), X, y)
    st = att._state
    assert st.factor.scaled_condition_estimate() <= EXPLICIT_MAX_COND
    ref = st._triangular_rows(method)
    got = att.effects(method)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_rif_does_not_depend_on_the_order_of_calls():
    # The explicit path's leverages are its own: rif after leverage is rif on a fresh Attributor,
    # bit for bit (and leverage after rif is checked above).
    X, y = make_data("logistic", n=3000, p=20, seed=8)
    model = leaveout.fit(X, y, l2=1.0)
    a = leaveout.Attributor(model, X, y)
    a.leverage
    b = leaveout.Attributor(model, X, y)
    np.testing.assert_array_equal(a.effects("rif"), b.effects("rif"))


def _collinear(n, eps, seed):
    """n rows, 3 columns of scales 1, 1e3 and 1e-2 (+ an intercept), the third nearly the first
    (scaled condition ≈ 1/eps²), so that h is large when n is small."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * np.array([1.0, 1e3, 1e-2])
    return np.column_stack([X[:, :2], X[:, 0] + eps * rng.normal(size=n)])


@pytest.mark.parametrize("n", [8, 12, 40])
@pytest.mark.parametrize("eps", [1e-1, 1e-2, 3e-3, 1e-3, 1e-4])
def test_explicit_rif_no_worse_than_solves_below_the_warning(n, eps):
    # Hessians between well- and ill-conditioned (scaled condition 1e2 - 5e9: the explicit path
    # up to EXPLICIT_MAX_COND, the triangular one above), with leverages up to ~0.9: RIF against
    # an extended-precision reference, no worse than Cholesky solves (to a factor 4, as above).
    from leaveout.estimators import EXPLICIT_MAX_COND

    worst, explicit = 0.0, 0
    for seed in range(6):
        X = _collinear(n, eps, seed)
        y = X @ np.array([1.0, 1e-3, 10.0]) + np.random.default_rng(seed).normal(size=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            att = leaveout.Attributor(leaveout.fit(X, y, family="squared", l2=0.0), X, y)
            got = att.effects("rif")
        st = att._state
        explicit += st.factor.scaled_condition_estimate() <= EXPLICIT_MAX_COND
        Xt = np.column_stack([X, np.ones(n)])
        ref = _longdouble_solve(st.H, Xt.T).T
        lev = st.w * np.einsum("ij,ij->i", Xt.astype(np.longdouble), ref)
        ref_rif = (ref * (st.r / (1 - lev))[:, None]).astype(np.float64)
        _, _, by_solve = _solve_based(att)
        err_solve = np.abs(by_solve - ref_rif).max()
        err_fast = np.abs(got - ref_rif).max()
        assert err_fast <= 4 * err_solve + 1e-15 * np.abs(ref_rif).max(), (seed, err_fast,
                                                                             err_solve)
        worst = max(worst, float(lev.max()))
    if eps >= 3e-3:
        assert explicit == 6  # scaled condition ≤ 5e6: the explicit path ran
    if n <= 12:
        assert worst > 0.5  # rows redone by the triangular products were among them


def test_high_leverage_rows_same_bits_on_any_number_of_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X = _collinear(3000, 1e-2, 0)
    X[:5] *= 300.0  # a few rows of leverage > 0.5: the triangular products redo them
    y = X @ np.array([1.0, 1e-3, 10.0]) + np.random.default_rng(0).normal(size=3000)
    model = leaveout.fit(X, y, family="squared", l2=1e-3)
    with threadpoolctl.threadpool_limits(limits=2):
        double = leaveout.Attributor(model, X, y).effects("rif")
    with threadpoolctl.threadpool_limits(limits=1):
        att = leaveout.Attributor(model, X, y)
        single = att.effects("rif")
    from leaveout.estimators import EXPLICIT_MAX_COND

    assert att._state.factor.scaled_condition_estimate() <= EXPLICIT_MAX_COND / 100
    assert (att.leverage > 0.5).sum() >= 3
    np.testing.assert_array_equal(single, double)
