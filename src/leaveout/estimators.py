"""The estimators of the leave-T-out effect θ̂₋T − θ̂ (DESIGN.md §3) — the only place their formulas live.

With r_i = s_i ℓ'(η_i, y_i), w_i = s_i ℓ''(η_i, y_i), per-row gradient g_i = r_i x̃_i, the Hessian H at
θ̂ and B = X̃H⁻¹ (row i of ``B`` below is H⁻¹x̃_i, computed in row chunks, never stored whole), leverage h_i = w_i x̃_i·H⁻¹x̃_i:

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
from contextlib import contextmanager
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from scipy.linalg import lapack

from . import _refine
from ._checkpoint import RefitStore
from ._refits import Progress, refit_chunk, run_refits
from ._linear import LinearLoss
from ._threads import map_chunks
from .solvers import check_output, hessian_factor
from ._warn import warn
from .exceptions import DegenerateRemovalWarning, HighLeverageWarning, SetLeverageWarning

logger = logging.getLogger(__name__)

METHODS = ("if", "rif", "newton", "retrain")

#: 1 − h_i at or below this: removing row i makes the retained problem singular.
SINGULAR_GAP = 1e-10
#: 1 − h_i below this: warn that the removal is nearly singular.
WARN_GAP = 1e-4
#: Set leverage above which ``if``/``rif`` on a set warn (SetLeverageWarning).  Calibrated by
#: benchmarks/calibrate_defaults.py on 257 sets of five real datasets (whole categories, random
#: and nearest-neighbour sets of 1–50 % of n): above 0.3 the median relative error of RIF's Δθ
#: is 35 % and 99 % of the sets where RIF is more than 25 % off are flagged; below it, 6 %
#: median, and only 2 % of the sets where RIF is within 10 % are flagged.
SET_LEVERAGE_WARN = 0.3
#: Largest scaled condition estimate of H (LAPACK ``pocon`` on D^-1/2 H D^-1/2) at which per-row
#: effects use the explicit H⁻¹; above it the triangular products, as accurate as Cholesky
#: solves.  Measured (tests/test_fast_products.py, collinear columns, leverages up to 0.9): the
#: explicit path is as accurate as solves (to a factor < 2) up to scaled condition 5e8 and
#: 24× less accurate at 5e9; 1e7 leaves a margin of 50.
EXPLICIT_MAX_COND = 1e7
#: Rows whose leverage by the explicit H⁻¹ exceeds this are recomputed by the triangular
#: products: there 1/(1 − h) amplifies the explicit product's error in h (ε·cond(H)·h) beyond
#: that of a solve (measured: rows of h ≤ 0.5 are as accurate as by solves, to a factor < 4).
EXPLICIT_MAX_LEVERAGE = 0.5
#: Entries per block of η shifts in per-row plug-in target effects (32 MB of float64).
PLUGIN_BLOCK = 1 << 22


def _row_sq_norms(Z: np.ndarray) -> np.ndarray:
    """‖Z_i‖² for each row of Z (k, p), in a fixed order (no BLAS reduction)."""
    return np.einsum("ij,ij->i", Z, Z)


def _rif_scale(r: np.ndarray, h: np.ndarray):
    """(r_i / (1 − h_i) with NaN where singular, singular mask, near-singular mask)."""
    gap = 1.0 - h
    singular = gap <= SINGULAR_GAP
    near = (gap <= WARN_GAP) & ~singular
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = r / gap
    scale[singular] = np.nan
    return scale, singular, near


def _cholesky(A: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of A by LAPACK ``potrf`` (what ``cho_factor`` calls, bit for
    bit, without its per-call checks, which cost more than the factorisation of a small set's
    k × k matrix); None where A is not positive definite."""
    c, info = lapack.dpotrf(A, lower=1, clean=0)
    return c if info == 0 else None


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

    #: The solver whose factor this state works with (see leaveout.solvers).
    solver = "primal"

    def __init__(self, loss: LinearLoss, theta: np.ndarray, hessian=None, factor=None,
                 eta=None):
        self.loss = loss
        self.design = loss.design
        self.theta = theta
        self.eta = loss.eta(theta) if eta is None else eta
        self.r = loss.row_gradient_scale(self.eta)
        self.w = loss.row_curvature(self.eta)
        if factor is None or getattr(factor, "kind", "primal") != self.solver or \
                (self.solver == "primal" and hessian is None):
            hessian, factor = self._new_factor(loss, theta)
        self.H = hessian
        self.factor = factor

    def _new_factor(self, loss: LinearLoss, theta: np.ndarray):
        """(H or None, a factor applying H⁻¹) at θ̂ by this state's solver."""
        return hessian_factor(loss, theta, self.eta, self.solver)

    def _names(self, idx) -> str:
        idx = np.asarray(idx, dtype=np.intp)
        return _names(idx if self.row_ids is None else self.row_ids[idx])

    def solved_rows(self, T: np.ndarray) -> np.ndarray:
        """H⁻¹x̃_i for the rows T, as an array of shape (len(T), n_params).

        Computed on demand (no n × p cache): X̃_T L⁻ᵀ L⁻¹ by two triangular products.
        """
        rows = self.design.rows(T)
        return self.factor.unwhiten_rows(self.factor.whiten_rows(rows))

    @cached_property
    def leverage(self) -> np.ndarray:
        """h_i = w_i x̃_i·H⁻¹x̃_i = w_i ‖L⁻¹x̃_i‖², shape (n_samples,); no n × p cache."""
        h = np.empty(self.design.n_samples)

        def chunk(sl):
            Z = self.design.rows_into(sl, np.empty((sl.stop - sl.start, self.design.n_params)))
            h[sl] = self.w[sl] * _row_sq_norms(self.factor.whiten_rows(Z))

        map_chunks(chunk, self.design.solve_slices())
        return h

    @cached_property
    def _rif(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(r_i / (1 − h_i) with NaN where singular, singular mask, near-singular mask)."""
        return _rif_scale(self.r, self.leverage)

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
    def per_row(self, method: str, checkpoint=None, refine=None) -> np.ndarray:
        """Parameter effect of removing each row alone, shape (n_samples, n_params).

        ``refine`` (a :class:`~leaveout._refine.Refinement`, ``newton`` only): refine the
        Newton steps by chord iterations (see :mod:`leaveout._refine`) and record how.
        """
        self._check_all_rows()
        if method == "retrain":
            return self.retrain([np.array([i]) for i in range(self.design.n_samples)], checkpoint)
        out = self._per_row_params(method)
        if refine is not None:
            return _refine.refine_rows(self, self._nan_degenerate_rows(out), refine)
        return self._nan_degenerate_rows(out)

    def _per_row_params(self, method: str) -> np.ndarray:
        """r_i H⁻¹x̃_i (``if``) or r_i H⁻¹x̃_i / (1 − h_i) (``rif``) for every row, (n, n_params).

        Written block by block straight into the result, no other n × p array.  When the
        Hessian is not ill-conditioned (:data:`EXPLICIT_MAX_COND`) each block is one product
        X̃ H⁻¹ with the explicit H⁻¹ = L⁻ᵀL⁻¹ (:meth:`_explicit_rows`); otherwise two triangular
        products (:meth:`_triangular_rows`).
        """
        if self.factor.scaled_condition_estimate() <= EXPLICIT_MAX_COND:
            return self._explicit_rows(method)
        return self._triangular_rows(method)

    def _explicit_rows(self, method: str) -> np.ndarray:
        """:meth:`_per_row_params` by one ``gemm`` per block: B = X̃ H⁻¹, with the leverages
        h_i = w_i x̃_i·B_i of ``rif`` from the same block while it is in cache.

        Those leverages are for this call's scale factors only (never cached as
        :attr:`leverage`, so that the results do not depend on the order of calls).  Through
        the explicit inverse h_i carries an error of about ε·cond(H)·h_i (the row norms of
        :attr:`leverage` about ε·√cond), which 1/(1 − h_i) amplifies: rows with h_i above
        :data:`EXPLICIT_MAX_LEVERAGE` are redone by the triangular products, so no row is
        less accurate than by Cholesky solves (tests/test_fast_products.py).
        """
        d, f = self.design, self.factor
        out = np.empty((d.n_samples, d.n_params))
        inv = f.inverse
        rif = method != "if"
        h = np.empty(d.n_samples) if rif else None

        def chunk(sl):
            B = d.matmat_into(inv, sl, out[sl])
            if not rif:
                B *= self.r[sl, None]
                return
            hb = self.w[sl] * d.row_dots(sl, B)
            high = np.flatnonzero(hb > EXPLICIT_MAX_LEVERAGE)
            if high.size:
                Z = f.whiten_rows(d.rows(sl.start + high))
                hb[high] = self.w[sl][high] * _row_sq_norms(Z)
                B[high] = f.unwhiten_rows(Z)
            h[sl] = hb
            B *= _rif_scale(self.r[sl], hb)[0][:, None]

        map_chunks(chunk, d.solve_slices())
        if rif:
            _, singular, near = _rif_scale(self.r, h)
            self.warn_high_leverage(np.flatnonzero(singular), np.flatnonzero(near))
        return out

    def _triangular_rows(self, method: str) -> np.ndarray:
        """:meth:`_per_row_params` by two triangular products per block: the rows of X̃ are
        copied into the result, whitened (Z = X̃ L⁻ᵀ, whose row norms give the leverages —
        cached on the way when not yet known), unwhitened (Z L⁻¹ = rows of X̃ H⁻¹) and scaled."""
        n = self.design.n_samples
        out = np.empty((n, self.design.n_params))
        known = "leverage" in self.__dict__
        h = self.__dict__["leverage"] if known else np.empty(n)

        def chunk(sl):
            Z = self.factor.whiten_rows(self.design.rows_into(sl, out[sl]))
            if not known:
                h[sl] = self.w[sl] * _row_sq_norms(Z)
            self.factor.unwhiten_rows(Z)
            Z *= (self.r[sl] if method == "if" else _rif_scale(self.r[sl], h[sl])[0])[:, None]

        map_chunks(chunk, self.design.solve_slices())
        if not known:
            self.__dict__["leverage"] = h
        if method != "if":
            self.rif_scale()  # its warnings
        return out

    def per_row_linear(self, method: str, J: np.ndarray, checkpoint=None,
                       refine=None) -> np.ndarray:
        """First-order target effects ∇fᵀΔ of removing each row, for J = ∇F of shape (p, m).

        Computed as (X̃ H⁻¹ J) scaled per row: never an n × p × m intermediate (refined Newton
        steps, like retraining, go through their n × p parameter effects).
        """
        if method == "retrain" or refine is not None:
            return np.asarray(J.T @ self.per_row(method, checkpoint, refine).T).T  # J may be sparse
        scale = self.r if method == "if" else self.rif_scale()
        A = self._design_solve(J)
        A *= scale[:, None]
        return self._nan_degenerate_rows(A)

    def _design_solve(self, J) -> np.ndarray:
        """X̃ H⁻¹ J for J of shape (n_params, m), dense or sparse; result (n_samples, m)."""
        if sp.issparse(J):
            J = J.toarray()  # p × m, affordable whenever the primal form is
        V = np.ascontiguousarray(self.factor.solve(J))   # (p, m)
        A = np.empty((self.design.n_samples, J.shape[1]))

        def chunk(sl):
            self.design.matmat_into(V, sl, A[sl])        # straight into the result

        map_chunks(chunk, self.design.solve_slices())
        return A

    def _check_all_rows(self) -> None:
        check_output(self.design.n_samples, self.design.n_params,
                     "The parameter effects of every row (n_samples x n_params)",
                     "Ask for the effects on a target instead (effects(method, target=...): "
                     "n_samples x m), or for chosen removal sets (remove=[...]).")

    def per_row_plugin(self, method: str, Q: np.ndarray, change, checkpoint=None) -> np.ndarray:
        """Plug-in target effects f(θ̂ + Δ_i) − f(θ̂) of removing each row alone.

        ``Q`` (p, m_q) holds the target's query rows x̃_q as columns, so that removing row i
        shifts their linear predictors by D_i = Δ_iᵀQ; for ``if``/``rif``/``newton``
        D_i = c_i x̃_iᵀ H⁻¹ Q (c_i = r_i, or r_i / (1 − h_i)), for ``retrain`` Δ_i is the exact
        refit.  ``change(D)`` maps a block of shifts (rows, m_q) to the target's change
        (rows, m_out).  Blocks of at most PLUGIN_BLOCK entries: never n × m_q at once.
        """
        n = self.design.n_samples
        if method == "retrain":
            deltas = self.per_row("retrain", checkpoint)
        else:
            V = self._plugin_solve(Q)                                # H⁻¹ X̃_qᵀ, (p, m_q)
            scale = self.r if method == "if" else self.rif_scale()
        step = max(1, min(n, PLUGIN_BLOCK // max(1, Q.shape[1])))
        blocks = []
        for start in range(0, n, step):
            sl = slice(start, min(start + step, n))
            if method == "retrain":
                D = np.asarray(Q.T @ deltas[sl].T).T  # Q may be sparse
            else:
                D = self._plugin_block(sl, V)   # a new array (or a block of one): scaled in place
                D *= scale[sl, None]
            blocks.append(change(D))
        out = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        return out if method == "retrain" else self._nan_degenerate_rows(out)

    def _plugin_solve(self, Q):
        return self.factor.solve(Q.toarray() if sp.issparse(Q) else Q)

    def _plugin_block(self, sl: slice, V: np.ndarray) -> np.ndarray:
        """Rows sl of X̃ H⁻¹ Q, from V = :meth:`_plugin_solve` (Q)."""
        return self.design.matmat(V, sl)  # no copy of the rows

    def _combine(self, T: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Σ_{i∈T} c_i H⁻¹x̃_i = H⁻¹ X̃_Tᵀ c, shape (n_params,)."""
        return self.factor.solve(self.design.rows(T).T @ c)

    def _woodbury_parts(self, T: np.ndarray):
        """(C = X̃_T H⁻¹ X̃_Tᵀ (k × k), c ↦ H⁻¹ X̃_Tᵀ c, X̃_T, B_T) for the Newton step of a
        set; B_T holds the rows H⁻¹x̃_i (k × p). The last two are None where they are not
        formed on the way (the kernel form)."""
        X_T = self.design.rows(T)
        B_T = self.factor.unwhiten_rows(self.factor.whiten_rows(X_T.copy()))
        return X_T @ B_T.T, lambda c: c @ B_T, X_T, B_T

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

    @cached_property
    def _support_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """The support masks stacked (k, n) and how many rows each holds (k,)."""
        masks = self._support_masks
        M = np.array(masks, dtype=bool).reshape(len(masks), self.design.n_samples)
        return M, M.sum(axis=1)

    @cached_property
    def _smallest_support(self) -> int:
        """Rows of the smallest non-empty support mask: a smaller set cannot empty any."""
        total = self._support_counts[1]
        total = total[total > 0]
        return int(total.min()) if total.size else self.design.n_samples + 1

    def _degenerate(self, T: np.ndarray) -> bool:
        """Removing T empties a non-empty support mask (no finite optimum is left)."""
        if T.size < self._smallest_support:
            return False
        M, total = self._support_counts
        return bool(((total > 0) & (M[:, T].sum(axis=1) == total)).any())

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
    def sets(self, method: str, sets: list[np.ndarray], checkpoint=None,
             refine=None) -> np.ndarray:
        """Parameter effect of removing each set, shape (len(sets), n_params).

        ``refine`` (a :class:`~leaveout._refine.Refinement`, ``newton`` only): refine each
        Newton step by chord iterations (see :mod:`leaveout._refine`) and record how.
        """
        if method == "retrain":
            return self.retrain(sets, checkpoint)
        out = np.zeros((len(sets), self.design.n_params))
        if method == "if":
            coef = self.r
        elif method == "rif":
            used = [T for T in sets if T.size]
            coef = self.rif_scale(np.concatenate(used) if used else np.zeros(0, dtype=np.intp))
        if method in ("if", "rif"):
            self._warn_set_leverage(method, sets)
        # Refined Newton steps: the sets' gradient refreshes run side by side (one pass over
        # the data per step for up to _refine.SETS_AT_ONCE sets; see _refine.refine_sets).
        pending = [] if method == "newton" and refine is not None else None
        batched = pending is not None and len(sets) > 1 and sum(T.size > 0 for T in sets) > 1
        for k, T in enumerate(sets):
            if T.size == 0:
                continue
            if self._degenerate(T):
                out[k] = np.nan
                warn(
                    f"Removing set {k} (rows {self._names(T)}) leaves data with no finite "
                    f"optimum "
                    f"(no row of positive weight, one class only, or only zero counts): the "
                    f"exact change is infinite, so its {method} effect is returned as NaN.",
                    DegenerateRemovalWarning)
                continue
            if method == "newton":
                out[k] = self._newton_set(T, k, refine, pending, batched)
                if pending is not None and len(pending) >= _refine.SETS_AT_ONCE:
                    self._refine_pending(pending, out, refine)
            else:
                out[k] = self._combine(T, coef[T])
        if pending:
            self._refine_pending(pending, out, refine)
        return out

    def _refine_pending(self, pending: list, out: np.ndarray, refine) -> None:
        for k, delta in _refine.refine_sets(self, pending, refine).items():
            out[k] = delta
        pending.clear()

    def set_leverage(self, T: np.ndarray) -> float:
        """λ_max(W_T^½ X̃_T H⁻¹ X̃_Tᵀ W_T^½) for the rows ``T``; 0 for the empty set.

        With Z = L⁻¹ X̃_Tᵀ W_T^½ (H = L Lᵀ, Z of shape (p, k)) the matrix is ZᵀZ, whose nonzero
        eigenvalues are those of Z Zᵀ: the smaller of the two Grams is formed (min(k, p)²).
        For one row it is h_i; it lies in [0, 1] and reaches 1 where removing T makes H − H_T
        singular.
        """
        if T.size == 0:
            return 0.0
        S = self.design.rows(T) * np.sqrt(self.w[T])[:, None]    # (k, p)
        Z = self.factor.solve_lower(S.T)                          # (p, k)
        G = Z @ Z.T if T.size > Z.shape[0] else Z.T @ Z
        m = G.shape[0]
        return float(linalg.eigvalsh(G, subset_by_index=[m - 1, m - 1], check_finite=False)[0])

    def _warn_set_leverage(self, method: str, sets: list[np.ndarray]) -> None:
        """SetLeverageWarning for the sets of two or more rows whose set leverage exceeds
        SET_LEVERAGE_WARN.  Single rows are not flagged: for one row ``rif`` is the Newton
        step, and IF's known bias there, the factor 1 − h_i, is what ``rif`` removes."""
        lev = [(k, self.set_leverage(T)) for k, T in enumerate(sets) if T.size >= 2]
        high = [(k, v) for k, v in lev if v > SET_LEVERAGE_WARN]
        if not high:
            return
        k, v = max(high, key=lambda kv: kv[1])
        which = (f"set {k}" if len(sets) == 1 else
                 f"{len(high)} of {len(sets)} sets (largest: set {k})")
        warn(
            f"The set leverage of {which} is {v:.2f} > {SET_LEVERAGE_WARN:g}: the rows are "
            f"removed together and interact, which the additive {method!r} estimate ignores "
            f"(on real data its Δθ is typically 25–65 % off at such set leverage). Use "
            f"method='newton' (it accounts for the interactions: a few % off on the same sets) "
            f"or 'retrain'. att.set_leverage(remove) gives the value per set.",
            SetLeverageWarning)

    def _newton_set(self, T: np.ndarray, k: int, refine=None, pending=None,
                    batched: bool = False) -> np.ndarray:
        """The Newton step of set ``k``; refined when ``refine`` is given — at once, or, with a
        list ``pending``, later by :func:`_refine.refine_sets` (the step is returned and
        ``(k, T, step, g0, solve)`` appended; ``batched``: with other sets, side by side)."""
        r_T, sw = self.r[T], np.sqrt(self.w[T])
        steps = refine.max_steps if refine else 0
        p = self.design.n_params
        if self.H is not None and (T.size > p or _refine.direct_is_cheaper(T.size, p, steps)):
            # More rows than parameters: factorising H − H_T directly, O(kp² + p³), beats
            # the k × k Woodbury system, O(k²p + k³); so it does for refined steps at small p,
            # where the Woodbury form's extra calls cost more than the p³.
            # (k, p); for refined steps of a small dense design, from the cached X̃ (one call)
            Xp = _refine.penalised_design(self) if refine is not None else None
            X_T = self.design.rows(T) if Xp is None else Xp[T]
            S = X_T * sw[:, None]
            c = _cholesky(self.H - S.T @ S)
            if c is None:
                return self._singular_set(T, k)
            g0 = r_T @ X_T                       # Σ_{i∈T} g_i
            step = lapack.dpotrs(c, g0, lower=1)[0]
            if refine is None:
                return step
            solve = _refine.direct_solver((c, True), steps, batched)
            return self._refined(T, k, X_T, step, solve, refine, pending, g0)
        if refine is not None and p > _refine.WHITENED_MIN_PARAMS and \
                hasattr(self.factor, "whiten_rows") and hasattr(self.factor, "inverse_product"):
            step, solve = _refine.whitened_newton(self.factor, self.design.rows(T), r_T, sw)
            if step is None:
                return self._singular_set(T, k)
            return self._refined(T, k, solve.X_T, step, solve, refine, pending)
        C, combine, X_T, B_T = self._woodbury_parts(T)     # X̃_T H⁻¹ X̃_Tᵀ, O(k²p)
        M = np.eye(T.size) - (sw[:, None] * C) * sw[None, :]
        cM = _cholesky(M)
        if cM is None:
            return self._singular_set(T, k)
        z = sw * lapack.dpotrs(cM, sw * (C @ r_T), lower=1)[0]
        step = combine(r_T + z)                  # u + B_Tᵀ z with u = H⁻¹G = B_Tᵀ r_T
        if refine is None:
            return step
        if X_T is None:
            X_T, B_T = self.design.rows(T), self.solved_rows(T)
        solve = _refine.woodbury_solver(self.factor, X_T, B_T, sw, (cM, True), refine.max_steps)
        return self._refined(T, k, X_T, step, solve, refine, pending)

    def _refined(self, T, k, X_T, step, solve, refine, pending, g0=None):
        if refine is None:
            return step
        if g0 is None:
            g0 = self.r[T] @ X_T
        if pending is None:
            return _refine.refine_set(self, T, step, g0, solve, refine, k)
        pending.append((k, T, step, g0, solve))
        return step

    def _singular_set(self, T: np.ndarray, k: int) -> np.ndarray:
        warn(
            f"Removing set {k} (rows {self._names(T)}) makes the Hessian singular: the "
            f"retained "
            f"data do not determine the parameters. Its newton effect is returned as NaN.",
            HighLeverageWarning)
        return np.full(self.design.n_params, np.nan)

    # -- exact retraining ---------------------------------------------------------------------
    #: How :meth:`retrain` runs (set for one call by :meth:`retraining`): the progress bar
    #: (None: when stderr is a terminal) and the number of worker processes.
    retrain_progress = None
    retrain_workers = 1

    @contextmanager
    def retraining(self, progress=None, workers: int = 1):
        """Run the body's refits with this progress setting on ``workers`` processes."""
        saved = self.retrain_progress, self.retrain_workers
        self.retrain_progress, self.retrain_workers = progress, workers
        try:
            yield
        finally:
            self.retrain_progress, self.retrain_workers = saved

    def _refit_problem(self):
        loss = self.loss
        return (self.design, loss.family, loss.y, loss.weights, loss.l2, loss.solver,
                self.theta)

    def retrain(self, sets: list[np.ndarray], checkpoint=None) -> np.ndarray:
        """Exact θ̂₋T − θ̂ for each set by a warm-started refit; shape (len(sets), n_params).

        With ``checkpoint`` (a directory), each finished refit is saved atomically and reused
        by a later call on the same problem, so an interrupted sweep loses no finished set;
        how many were reused is logged (INFO) and shown on the progress bar.  Refits run on
        :attr:`retrain_workers` processes (:mod:`leaveout._refits`: the same bits as serial,
        in order).
        """
        p = self.design.n_params
        thetas: list = [None] * len(sets)
        store = None
        if checkpoint is not None:
            loss = self.loss
            store = RefitStore(checkpoint, (*self.design.state_arrays(), loss.y, loss.weights,
                                            self.theta),
                               f"{loss.family.name}|{loss.l2!r}|{self.design.fit_intercept}")
            thetas = [store.get(T, p) for T in sets]
        todo = [(k, T) for k, T in enumerate(sets) if thetas[k] is None]
        reused = len(sets) - len(todo)
        if store is not None:
            logger.info("retrain: %d of %d sets reused from the checkpoint %s; %d to refit",
                        reused, len(sets), store.dir, len(todo))
        step = max(1, len(sets) // 10)
        done = reused
        with Progress(len(sets), reused, self.retrain_progress) as bar:
            for k, theta, failure in run_refits(self._refit_problem(), todo,
                                                self.retrain_workers):
                if failure is not None:
                    theta = self._failed_refit(sets[k], k, failure)
                elif store is not None:
                    store.put(sets[k], theta)
                thetas[k] = theta
                done += 1
                bar.update()
                if len(sets) >= 20 and (done % step == 0 or done == len(sets)):
                    logger.info("retrain: %d/%d sets (%d reused)", done, len(sets), reused)
        out = np.zeros((len(sets), p))
        for k, theta in enumerate(thetas):
            out[k] = theta - self.theta
        return out

    def refit(self, T: np.ndarray, k: int = 0) -> np.ndarray:
        """θ̂₋T: the exact optimum without the rows T, warm-started at θ̂."""
        t0 = time.perf_counter()
        ((_, theta, failure),) = refit_chunk(self._refit_problem(), [(k, T)])
        if failure is not None:
            return self._failed_refit(T, k, failure)
        logger.debug("refit of set %d (%d rows) in %.3fs", k, T.size, time.perf_counter() - t0)
        return theta

    def _failed_refit(self, T: np.ndarray, k: int, failure: str) -> np.ndarray:
        warn(
            f"Retraining without set {k} (rows {self._names(T)}) has no unique finite optimum "
            f"({failure}); its retrain effect is returned as NaN.", HighLeverageWarning)
        return np.full(self.design.n_params, np.nan)


class KernelState(FittedState):
    """:class:`FittedState` with H⁻¹ in the kernel form (DESIGN.md §5, ``solvers.kernel``).

    The same estimators; only the products with H⁻¹ differ: nothing p × p is formed, and
    nothing n × p unless every row's parameter effect is asked for (then the result itself).
    """

    solver = "kernel"

    def __init__(self, loss: LinearLoss, theta: np.ndarray, *args, **kwargs):
        super().__init__(loss, theta, *args, **kwargs)
        # K of the factor's design (the same data), for the refits of retrain to slice.
        K = getattr(self.factor.design, "_kernel_cache", None)
        if K is not None and getattr(self.design, "_kernel_cache", None) is None:
            self.design._kernel_cache = K

    def solved_rows(self, T: np.ndarray) -> np.ndarray:
        return self.factor.solve(self.design.rows(T).T).T

    @cached_property
    def leverage(self) -> np.ndarray:
        return 1.0 - self.factor.gap()

    # -- refined Newton steps in the row space ------------------------------------------------
    #: Largest n for which refined Newton steps run on the row-space design (n × n, a few
    #: n × n arrays: 72 MB each at 3000 rows); above it, on the kernel form's solves.
    ROW_SPACE_MAX_ROWS = 3000
    #: Largest condition estimate of K = X Xᵀ for the row-space design: mapping its steps back
    #: (Xᵀ G⁻ᵀ) carries an error of about ε·√cond(K).
    ROW_SPACE_MAX_COND = 1e10

    #: Largest n · p for which the row-space design comes from a QR factorisation of a dense
    #: Xᵀ (a p × n copy: 256 MB at 2²⁵ entries); larger or sparse designs use the Cholesky
    #: factor of K = X Xᵀ, when K is not singular.
    ROW_SPACE_QR_ENTRIES = 1 << 25

    @cached_property
    def _row_space(self):
        """The same problem on an n × n design G with X = G Qᵀ (Q of shape p × n with
        orthonormal columns), as a primal :class:`FittedState`, and Q's products
        (``to_beta``); None where it does not apply.

        X β = G Qᵀβ and ‖β‖² = ‖Qᵀβ‖² + ‖(I − QQᵀ)β‖², so every retained objective
        Σ s ℓ(Xβ + b) + λ/2 ‖β‖² is the same GLM in z = Qᵀβ with design G (its optimum has no
        component outside the row space) — an isometry: Δβ = Q Δz and ‖Δβ‖ = ‖Δz‖, so a
        refined Newton step there is the primal one (same iterates, steps, update sizes and
        stopping rule, to rounding), at the cost of an n-column design instead of p columns,
        with G's (n + 1)² Hessian factored once.

        G: Rᵀ from the QR factorisation Xᵀ = QR of a dense design (exact for any rank: the
        rows of standardised, column-centred data are linearly dependent), else the lower
        Cholesky factor of K = X Xᵀ (Q = Xᵀ G⁻ᵀ) when K is not singular to within
        :data:`ROW_SPACE_MAX_COND`.
        """
        design = self.design
        n, d = design.n_samples, design.n_features
        if n > self.ROW_SPACE_MAX_ROWS or hasattr(self, "retained_gradient") or \
                self.row_ids is not None:
            return None
        from .designs.dense import DenseDesign

        X = getattr(design, "X", None)
        if isinstance(design, DenseDesign) and isinstance(X, np.ndarray) and \
                n * d <= self.ROW_SPACE_QR_ENTRIES:
            G, to_beta, to_z = self._row_space_qr(X)
        else:
            found = self._row_space_cholesky()
            if found is None:
                return None
            G, to_beta, to_z = found
        b = self.theta[d:]
        loss = self.loss
        reduced = LinearLoss(DenseDesign(np.ascontiguousarray(G), design.fit_intercept),
                             loss.family, loss.y, loss.weights, loss.l2)
        theta = np.concatenate([to_z(self.theta[:d]), b])
        return FittedState(reduced, theta, eta=self.eta), to_beta

    @staticmethod
    def _row_space_qr(X: np.ndarray):
        """(G = Rᵀ, Δz ↦ QΔz, β ↦ Qᵀβ) from LAPACK ``geqrf`` of Xᵀ (p × n, n ≤ p)."""
        n, d = X.shape
        qr, tau, _, info = lapack.dgeqrf(np.array(X.T, order="F"), lwork=max(1, 64 * n))
        if info != 0:  # pragma: no cover - geqrf fails only on invalid arguments
            raise np.linalg.LinAlgError("LAPACK geqrf failed")
        G = np.tril(qr[:n].T)
        # Q itself (p × n, in the reflectors' place: ``orgqr``, 4pn²/3 flops once): one gemv
        # per mapped step, several times faster than applying the reflectors (``ormqr``).
        Q, _, info = lapack.dorgqr(qr, tau, lwork=max(1, 64 * n), overwrite_a=1)
        if info != 0:  # pragma: no cover
            raise np.linalg.LinAlgError("LAPACK orgqr failed")

        def to_beta(Dz):  # (m, n) -> (m, d)
            return (Q @ Dz.T).T

        def to_z(beta):
            return beta @ Q
        return G, to_beta, to_z

    def _row_space_cholesky(self):
        """(G, Δz ↦ Xᵀ G⁻ᵀ Δz, β ↦ G⁻¹Xβ) with K = G Gᵀ, or None when K is (nearly) singular."""
        from .solvers.kernel import design_kernel
        from ._solve import _pocon

        design = self.design
        K = design_kernel(design)
        try:
            G = linalg.cholesky(K, lower=True, check_finite=False)
        except linalg.LinAlgError:  # rows linearly dependent: K singular
            return None
        if _pocon(np.asfortranarray(G), float(np.abs(K).sum(axis=0).max())) > \
                self.ROW_SPACE_MAX_COND:
            return None

        def to_beta(Dz):
            W = linalg.solve_triangular(G, Dz.T, lower=True, trans="T", check_finite=False)
            return design.feature_matmat(W).T

        def to_z(beta):
            return linalg.solve_triangular(G, design.data_matmat(beta[:, None])[:, 0],
                                           lower=True, check_finite=False)
        return G, to_beta, to_z

    def _from_row_space(self, Dz: np.ndarray) -> np.ndarray:
        """Δθ = (Q Δz, Δb) for row-space steps Dz of shape (m, n (+1)); result (m, n_params)."""
        to_beta = self._row_space[1]
        n, d = self.design.n_samples, self.design.n_features
        out = np.empty((Dz.shape[0], self.design.n_params))
        out[:, :d] = to_beta(Dz[:, :n])
        out[:, d:] = Dz[:, n:]
        return out

    def _newton_set(self, T: np.ndarray, k: int, refine=None, pending=None,
                    batched: bool = False) -> np.ndarray:
        row = self._row_space if refine is not None else None
        if row is None:
            return super()._newton_set(T, k, refine, pending, batched)
        before = len(pending) if pending is not None else 0
        step = row[0]._newton_set(T, k, refine, pending, batched)
        if pending is not None and len(pending) > before:
            return np.zeros(self.design.n_params)  # refined (and mapped) by _refine_pending
        return self._from_row_space(step[None, :])[0]

    def _refine_pending(self, pending: list, out: np.ndarray, refine) -> None:
        row = self._row_space
        if row is None:
            return super()._refine_pending(pending, out, refine)
        done = _refine.refine_sets(row[0], pending, refine)
        ks = np.fromiter(done, dtype=np.intp, count=len(done))
        out[ks] = self._from_row_space(np.stack([done[k] for k in ks.tolist()]))
        pending.clear()

    def _per_row_params(self, method: str) -> np.ndarray:
        out = self.factor.row_solves()
        out *= (self.r if method == "if" else self.rif_scale())[:, None]
        return out

    def _design_solve(self, J) -> np.ndarray:
        return self.factor.design_solve(J)

    def _plugin_solve(self, Q):
        return self.factor.design_solve(Q)      # X̃ H⁻¹ Q, (n, m_q)

    def _plugin_block(self, sl: slice, V: np.ndarray) -> np.ndarray:
        return V[sl]

    def _combine(self, T: np.ndarray, c: np.ndarray) -> np.ndarray:
        full = np.zeros(self.design.n_samples)
        np.add.at(full, T, c)
        return self.factor.solve_rows_t(full)

    def _woodbury_parts(self, T: np.ndarray):
        return self.factor.cross(T), lambda c: self._combine(T, c), None, None

    def set_leverage(self, T: np.ndarray) -> float:
        if T.size == 0:
            return 0.0
        sw = np.sqrt(self.w[T])
        G = (sw[:, None] * self.factor.cross(T)) * sw[None, :]
        m = G.shape[0]
        return float(linalg.eigvalsh(G, subset_by_index=[m - 1, m - 1], check_finite=False)[0])
