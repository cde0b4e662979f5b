"""Leave-one-out linear predictors and self-influence from one fit (DESIGN.md §9).

Removing row i alone changes the parameters by Δ_i (DESIGN.md §3) and so its own linear
predictor to η₋ᵢ = η_i + x̃_i·Δ_i.  With q_i = x̃_iᵀH⁻¹x̃_i (so that h_i = w_i q_i) and
r_i = s_i ℓ'(η_i, y_i):

    if              η₋ᵢ = η_i + r_i q_i                 (Δ_i = H⁻¹g_i)
    rif, newton     η₋ᵢ = η_i + r_i q_i / (1 − h_i)     (Δ_i = H⁻¹g_i / (1 − h_i), exact
                                                         Sherman–Morrison for one row)
    retrain         η₋ᵢ = x̃_i·θ̂₋ᵢ                      (n exact refits)

For squared loss, y_i − η₋ᵢ is the PRESS residual e_i / (1 − h_i): the rif value is exact.
The mean loss (1/n) Σ ℓ(η₋ᵢ, y_i) is the approximate leave-one-out (ALO) risk of Rad & Maleki
(2020); ℓ(η₋ᵢ, y_i) − ℓ(η_i, y_i) is row i's self-influence.
"""

from __future__ import annotations

import numpy as np

from .estimators import FittedState

#: Rows refitted per call of the retraining loop (bounds the (rows, n_params) block in memory).
RETRAIN_BLOCK = 256


def own_quadratic(state: FittedState) -> np.ndarray:
    """q_i = x̃_iᵀH⁻¹x̃_i for every row, shape (n_samples,).

    Read off the leverages as q = h / w — no n × p cache and no second pass over X — except on
    rows whose h is zero or below the normal float range (zero sample weight, a saturated
    logistic row with ℓ'' = 0, or an underflowing product), where h / w would be 0/0 or lose
    digits: those rows are solved for directly.
    """
    h, w = state.leverage, state.w
    direct = ~(h >= np.finfo(float).tiny) | ~(w > 0)
    q = np.empty_like(h)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(h, w, out=q, where=~direct)
    idx = np.flatnonzero(direct)
    for start in range(0, idx.size, 4096):
        rows = idx[start:start + 4096]
        kind = getattr(state.factor, "kind", "primal")
        if kind == "cg":  # x̃_iᵀ(H⁻¹x̃_i) by CG solves
            B = state.factor.solve(np.ascontiguousarray(state.design.rows(rows).T))
            q[rows] = np.einsum("ij,ji->i", state.design.rows(rows), B)
            continue
        if kind == "kernel":  # diag of X̃_T H⁻¹ X̃_Tᵀ
            q[rows] = np.diag(state.factor.cross(rows))
            continue
        Z = state.factor.solve_lower(state.design.rows(rows).T)  # (p, k)
        q[rows] = np.einsum("ij,ij->j", Z, Z)
    return q


def loo_linear_predictor(state: FittedState, method: str, checkpoint=None) -> np.ndarray:
    """η₋ᵢ for every training row, shape (n_samples,), by ``method`` (see the module docstring).

    Rows whose removal alone leaves no finite optimum (``DegenerateRemovalWarning``) or a
    singular problem (leverage 1, ``HighLeverageWarning``) get NaN, as in ``effects``.
    """
    n = state.design.n_samples
    if method == "retrain":
        out = np.empty(n)
        for start in range(0, n, RETRAIN_BLOCK):
            idx = np.arange(start, min(start + RETRAIN_BLOCK, n))
            deltas = state.retrain([np.array([i]) for i in idx], checkpoint)
            thetas = state.theta + deltas
            out[idx] = np.einsum("ij,ij->i", state.design.rows(idx), thetas)
        return out
    scale = state.r if method == "if" else state.rif_scale()
    out = state.eta + scale * own_quadratic(state)
    return state._nan_degenerate_rows(out)


def loo_losses(state: FittedState, method: str, checkpoint=None) -> tuple[np.ndarray, np.ndarray]:
    """(ℓ(η₋ᵢ, y_i), ℓ(η_i, y_i)) for every row, each of shape (n_samples,), unweighted."""
    eta_loo = loo_linear_predictor(state, method, checkpoint)
    family, y = state.loss.family, state.loss.y
    with np.errstate(over="ignore", invalid="ignore"):
        return family.loss(eta_loo, y), family.loss(state.eta, y)
