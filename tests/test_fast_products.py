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
