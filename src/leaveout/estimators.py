"""The estimators of the leave-T-out effect θ̂₋T − θ̂ (DESIGN.md §3) — the only place their formulas live.

With r_i = s_i ℓ'(η_i, y_i), w_i = s_i ℓ''(η_i, y_i), per-row gradient g_i = r_i x̃_i, the Hessian H at
θ̂ and B = H⁻¹X̃ᵀ (row i of ``B`` below is H⁻¹x̃_i), leverage h_i = w_i x̃_i·H⁻¹x̃_i:

    if      Δ_T = Σ_{i∈T} H⁻¹ g_i                     = Σ_{i∈T} r_i B_i
    rif     Δ_T = Σ_{i∈T} H⁻¹ g_i / (1 − h_i)          = Σ_{i∈T} r_i B_i / (1 − h_i)
    newton  Δ_T = (H − H_T)⁻¹ Σ_{i∈T} g_i,  H_T = Σ_{i∈T} w_i x̃_i x̃_iᵀ
            by Woodbury with S = W_T^{1/2} X̃_T:  with u = H⁻¹G, C = X̃_T H⁻¹ X̃_Tᵀ (k × k),
            M = I − W^{1/2} C W^{1/2}:   Δ_T = u + B_Tᵀ W^{1/2} M⁻¹ W^{1/2} X̃_T u,  X̃_T u = C r_T
    retrain Δ_T = the exact refit without T, warm-started at θ̂.

Sign: the change when T is removed.  For a single row ``newton`` equals ``rif`` exactly
(Sherman–Morrison), so per-row ``newton`` uses the ``rif`` formula.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property

import numpy as np
from scipy import linalg

from ._checkpoint import RefitStore
from ._linear import LinearLoss
from ._solve import factorize
from ._warn import warn
from .exceptions import (
    ConvergenceError,
    DegenerateRemovalWarning,
    HighLeverageWarning,
    SingularHessianError,
)
from .fitting import exact_fit

logger = logging.getLogger(__name__)

METHODS = ("if", "rif", "newton", "retrain")

#: 1 − h_i at or below this: removing row i makes the retained problem singular.
SINGULAR_GAP = 1e-10
#: 1 − h_i below this: warn that the removal is nearly singular.
WARN_GAP = 1e-4


def _names(idx, limit=10) -> str:
    idx = [int(i) for i in idx]
    s = ", ".join(map(str, idx[:limit]))
    return s + (f", … ({len(idx)} in all)" if len(idx) > limit else "")


class FittedState:
    """Quantities of one fitted model at its exact optimum θ̂, computed lazily and cached.

    Parameters
    ----------
    loss : LinearLoss
        The objective on the training data.
    theta : ndarray of shape (n_params,)
        The exact optimum.
    hessian, factor : optional
        H at θ̂ and its Cholesky factor when the fit already has them (``NewtonResult``).
    """

    #: Training-row numbers of this state's rows, for messages, when it holds a subset of them
    #: (the rows of some removal sets gathered from a Dask design); None: rows 0..n-1.
    row_ids: np.ndarray | None = None

    def __init__(self, loss: LinearLoss, theta: np.ndarray, hessian=None, factor=None):
        self.loss = loss
        self.design = loss.design
        self.theta = theta
        self.eta = loss.eta(theta)
        self.r = loss.row_gradient_scale(self.eta)
        self.w = loss.row_curvature(self.eta)
        if hessian is None or factor is None:
            hessian = loss.hessian(theta, self.eta)
            factor = factorize(hessian)
        self.H = hessian
        self.factor = factor

    def _names(self, idx) -> str:
        idx = np.asarray(idx, dtype=np.intp)
        return _names(idx if self.row_ids is None else self.row_ids[idx])

    @cached_property
    def B(self) -> np.ndarray:
        """H⁻¹x̃_i for every row, as an array of shape (n_samples, n_params)."""
        out = np.empty((self.design.n_samples, self.design.n_params))
        for sl, rows in self.design.chunks():
            out[sl] = self.factor.solve(rows.T).T
        return out

    @cached_property
    def leverage(self) -> np.ndarray:
        """h_i = w_i x̃_i·H⁻¹x̃_i = w_i ‖L⁻¹x̃_i‖², shape (n_samples,); no n × p cache."""
        h = np.empty(self.design.n_samples)
        for sl, rows in self.design.chunks():
            Z = self.factor.solve_lower(rows.T)  # (p, chunk)
            h[sl] = self.w[sl] * np.einsum("ij,ij->j", Z, Z)
        return h

    @cached_property
    def _rif(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(r_i / (1 − h_i) with NaN where singular, singular mask, near-singular mask)."""
        gap = 1.0 - self.leverage
        singular = gap <= SINGULAR_GAP
        near = (gap <= WARN_GAP) & ~singular
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = self.r / gap
        scale[singular] = np.nan
        return scale, singular, near

    def rif_scale(self, rows: np.ndarray | None = None) -> np.ndarray:
        """r_i / (1 − h_i) for every row, NaN where removing row i alone is singular.

        Warns — on every call, not only the first — about the singular and near-singular rows
        among ``rows`` (default: all), the rows whose effects the caller is about to return.
        """
        scale, singular, near = self._rif
        if rows is not None:
            keep = np.zeros_like(singular)
            keep[rows] = True
            singular, near = singular & keep, near & keep
        self.warn_high_leverage(np.flatnonzero(singular), np.flatnonzero(near))
        return scale

    def warn_high_leverage(self, singular: np.ndarray, near: np.ndarray) -> None:
        """Warn about rows whose removal is singular (1 − h ≤ SINGULAR_GAP) or nearly so."""
        if singular.size:
            warn(
                f"Removing training row(s) {self._names(singular)} makes the problem "
                f"singular (leverage 1: each alone determines a direction of the parameters). "
                f"Their rif/newton effects are undefined and returned as NaN; use l2 > 0 to make "
                f"them finite.", HighLeverageWarning)
        if near.size:
            warn(
                f"Training row(s) {self._names(near)} have leverage within {WARN_GAP:g} "
                f"of 1: removing one nearly makes the problem singular, so its rif/newton effect "
                f"is large and sensitive to rounding.", HighLeverageWarning)

    # -- one row at a time ----------------------------------------------------------------------
    def per_row(self, method: str, checkpoint=None) -> np.ndarray:
        """Parameter effect of removing each row alone, shape (n_samples, n_params)."""
        if method == "retrain":
            return self.retrain([np.array([i]) for i in range(self.design.n_samples)], checkpoint)
        out = self.B * (self.r if method == "if" else self.rif_scale())[:, None]
        return self._nan_degenerate_rows(out)

    def per_row_linear(self, method: str, J: np.ndarray, checkpoint=None) -> np.ndarray:
        """First-order target effects ∇fᵀΔ of removing each row, for J = ∇F of shape (p, m).

        Computed as (X̃ H⁻¹ J) scaled per row: never an n × p × m intermediate.
        """
        if method == "retrain":
            return self.per_row("retrain", checkpoint) @ J
        A = self.design.matmat(self.factor.solve(J))  # (n, m)
        A *= (self.r if method == "if" else self.rif_scale())[:, None]
        return self._nan_degenerate_rows(A)

    # -- removals that leave no finite optimum ---------------------------------------------------
    @cached_property
    def _support_masks(self) -> list[np.ndarray]:
        """Row masks each of which must keep a row for the optimum to stay finite.

        Every fit with an intercept (or without a penalty) needs a row of positive weight; with
        an unpenalised intercept, a logistic fit needs a row with y > 0 and one with y < 1, a
        Poisson fit a row with a positive count (among rows of positive weight).
        """
        loss = self.loss
        active = loss.weights > 0
        masks = [active] if (self.design.fit_intercept or loss.l2 == 0.0) else []
        if not self.design.fit_intercept:
            return masks
        if loss.family.name == "logistic":
            masks += [active & (loss.y > 0.0), active & (loss.y < 1.0)]
        elif loss.family.name == "poisson":
            masks += [active & (loss.y > 0.0)]
        return masks

    def _degenerate(self, T: np.ndarray) -> bool:
        return any(M.any() and M[T].sum() == M.sum() for M in self._support_masks)

    def _nan_degenerate_rows(self, out: np.ndarray) -> np.ndarray:
        bad = np.zeros(self.design.n_samples, dtype=bool)
        for M in self._support_masks:
            if M.sum() == 1:
                bad |= M
        if bad.any():
            out[bad] = np.nan
            self.warn_degenerate_rows(np.flatnonzero(bad))
        return out

    def warn_degenerate_rows(self, bad: np.ndarray) -> None:
        """Warn that removing each of the rows ``bad`` alone leaves no finite optimum."""
        if bad.size:
            warn(
                f"Removing training row(s) {self._names(bad)} alone leaves data with "
                f"no finite optimum (the only row of positive weight or of its class, or the only "
                f"positive count): "
                f"their effects are infinite and returned as NaN.", DegenerateRemovalWarning)

    # -- sets ---------------------------------------------------------------------------------
    def sets(self, method: str, sets: list[np.ndarray], checkpoint=None) -> np.ndarray:
        """Parameter effect of removing each set, shape (len(sets), n_params)."""
        if method == "retrain":
            return self.retrain(sets, checkpoint)
        out = np.zeros((len(sets), self.design.n_params))
        if method == "if":
            coef = self.r
        elif method == "rif":
            used = [T for T in sets if T.size]
            coef = self.rif_scale(np.concatenate(used) if used else np.zeros(0, dtype=np.intp))
        for k, T in enumerate(sets):
            if T.size == 0:
                continue
            if self._degenerate(T):
                out[k] = np.nan
                warn(
                    f"Removing set {k} (rows {self._names(T)}) leaves data with no finite optimum "
                    f"(no row of positive weight, one class only, or only zero counts): the "
                    f"exact change is infinite, so its {method} effect is returned as NaN.",
                    DegenerateRemovalWarning)
                continue
            if method == "newton":
                out[k] = self._newton_set(T, k)
            else:
                out[k] = coef[T] @ self.B[T]
        return out

    def _newton_set(self, T: np.ndarray, k: int) -> np.ndarray:
        X_T = self.design.rows(T)                # (k, p)
        r_T, sw = self.r[T], np.sqrt(self.w[T])
        if T.size > self.design.n_params:
            # More rows than parameters: factorising H − H_T directly, O(kp² + p³), beats
            # the k × k Woodbury system, O(k²p + k³).
            S = X_T * sw[:, None]
            try:
                c = linalg.cho_factor(self.H - S.T @ S, lower=True, check_finite=False)
            except linalg.LinAlgError:
                return self._singular_set(T, k)
            return linalg.cho_solve(c, r_T @ X_T, check_finite=False)
        B_T = self.B[T]                          # (k, p): rows H⁻¹x̃_i
        C = X_T @ B_T.T                          # X̃_T H⁻¹ X̃_Tᵀ, O(k²p)
        M = np.eye(T.size) - (sw[:, None] * C) * sw[None, :]
        u = r_T @ B_T                            # H⁻¹ G
        try:
            cM = linalg.cho_factor(M, lower=True, check_finite=False)
        except linalg.LinAlgError:
            return self._singular_set(T, k)
        z = sw * linalg.cho_solve(cM, sw * (C @ r_T), check_finite=False)
        return u + z @ B_T

    def _singular_set(self, T: np.ndarray, k: int) -> np.ndarray:
        warn(
            f"Removing set {k} (rows {self._names(T)}) makes the Hessian singular: the retained "
            f"data do not determine the parameters. Its newton effect is returned as NaN.",
            HighLeverageWarning)
        return np.full(self.design.n_params, np.nan)

    # -- exact retraining ---------------------------------------------------------------------
    def retrain(self, sets: list[np.ndarray], checkpoint=None) -> np.ndarray:
        """Exact θ̂₋T − θ̂ for each set by a warm-started refit; shape (len(sets), n_params).

        With ``checkpoint`` (a directory), each finished refit is saved atomically and reused
        by a later call on the same problem, so an interrupted sweep loses no finished set.
        """
        out = np.zeros((len(sets), self.design.n_params))
        store = None
        if checkpoint is not None:
            loss = self.loss
            store = RefitStore(checkpoint, (self.design.X, loss.y, loss.weights, self.theta),
                               f"{loss.family.name}|{loss.l2!r}|{self.design.fit_intercept}")
        step = max(1, len(sets) // 10)
        for k, T in enumerate(sets):
            theta = store.get(T, self.design.n_params) if store is not None else None
            if theta is None:
                theta = self.refit(T, k)
                if store is not None and np.all(np.isfinite(theta)):
                    store.put(T, theta)
            out[k] = theta - self.theta
            if len(sets) >= 20 and ((k + 1) % step == 0 or k + 1 == len(sets)):
                logger.info("retrain: %d/%d sets", k + 1, len(sets))
        return out

    def refit(self, T: np.ndarray, k: int = 0) -> np.ndarray:
        """θ̂₋T: the exact optimum without the rows T, warm-started at θ̂."""
        if T.size == 0:
            return self.theta.copy()
        keep = np.ones(self.design.n_samples, dtype=bool)
        keep[T] = False
        loss = self.loss
        sub = LinearLoss(self.design.subset(keep), loss.family, loss.y[keep],
                         loss.weights[keep], loss.l2)
        t0 = time.perf_counter()
        try:
            theta = exact_fit(sub, self.theta).theta
        except (SingularHessianError, ConvergenceError) as exc:
            return self._refit_failed(T, k, exc)
        logger.debug("refit of set %d (%d rows) in %.3fs", k, T.size, time.perf_counter() - t0)
        return theta

    def _refit_failed(self, T: np.ndarray, k: int, exc: Exception) -> np.ndarray:
        warn(
            f"Retraining without set {k} (rows {self._names(T)}) has no unique finite optimum "
            f"({exc}); its retrain effect is returned as NaN.", HighLeverageWarning)
        return np.full(self.design.n_params, np.nan)
