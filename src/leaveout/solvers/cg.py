"""H⁻¹ by preconditioned conjugate gradients on Hessian–vector products (no matrix is formed).

Hv = X̃ᵀ (w ⊙ X̃v) + λPv costs two products with X (O(nnz) for a sparse design).  The
preconditioner is diag(H) (Jacobi), so the iteration count depends on the condition of the
equilibrated Hessian D^-1/2 H D^-1/2 — the same quantity ``scaled_condition_estimate`` reports
(from the Lanczos coefficients of the last solve).  Used by the fit when it is the cheapest way to
take exact Newton steps on a wide sparse design: each solve is run to a relative residual of
``RTOL``, far below what the Newton stopping rule resolves.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from scipy import linalg

from ..exceptions import ConvergenceError

logger = logging.getLogger(__name__)

#: Relative residual ‖Hz − v‖ / ‖v‖ at which a solve stops.
RTOL = 1e-13
#: Right-hand sides iterated side by side by :meth:`CGFactor.solve`.
BLOCK = 32


def _features_t(design, C: np.ndarray) -> np.ndarray:
    """Xᵀ C (n_features, m) for C (n_samples, m); for a sparse X through a CSR copy of Xᵀ made
    once per design (a row-wise product: faster than the CSC view ``X.T`` gives)."""
    if not sp.issparse(design.X):
        return design.feature_matmat(C)
    Xt = getattr(design, "_csr_t", None)
    if Xt is None:
        Xt = design._csr_t = design.X.T.tocsr()
    return np.asarray(Xt @ C)


class CGFactor:
    """Applies H⁻¹ for ``design`` at row curvatures ``w`` with penalty vector ``penalty``.

    Parameters
    ----------
    design : DenseDesign or SparseDesign
    w : ndarray of shape (n_samples,)
    penalty : ndarray of shape (n_params,)
        λ P's diagonal.
    max_iter : int, optional
        Iterations per solve (default 10 · n_params, at least 1000).
    rtol : float, optional
        The time/accuracy knob: each solve stops at a relative residual ‖Hz − v‖ / ‖v‖ ≤ rtol
        (default :data:`RTOL`).  The error of z relative to H⁻¹v is at most cond(H) · rtol.

    Attributes
    ----------
    info : list of dict
        One record per solve: ``iterations``, ``rtol`` (the target) and ``residual``, the relative residual
        ‖Hz − v‖ / ‖v‖ of the returned z, recomputed from z after the iteration (not CG's
        recursively updated residual, which can drift from the true one).
    """

    kind = "cg"

    def __init__(self, design, w: np.ndarray, penalty: np.ndarray, *, max_iter: int | None = None,
                 rtol: float = RTOL):
        self.design, self.w, self.penalty = design, w, penalty
        self.n = design.n_params
        diag = design.sq_rmatvec(w) + penalty
        self._pinv = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), 1.0)
        self.max_iter = max_iter or max(1000, 10 * self.n)
        self.rtol = float(rtol)
        self.iterations = 0
        self.info: list[dict] = []
        self._ritz = (np.nan, np.nan)

    def matvec(self, v: np.ndarray) -> np.ndarray:
        return self.matmat(v[:, None])[:, 0]

    def _solve1(self, b: np.ndarray) -> np.ndarray:
        x = np.zeros_like(b)
        bnorm = float(np.linalg.norm(b))
        if bnorm == 0.0:
            self.info.append({"iterations": 0, "residual": 0.0, "rtol": self.rtol})
            return x
        r = b.copy()
        z = self._pinv * r
        p = z.copy()
        rz = float(r @ z)
        alphas, betas = [], []
        for it in range(1, self.max_iter + 1):
            Ap = self.matvec(p)
            pAp = float(p @ Ap)
            if not pAp > 0.0:
                break
            alpha = rz / pAp
            x += alpha * p
            r -= alpha * Ap
            alphas.append(alpha)
            if float(np.linalg.norm(r)) <= self.rtol * bnorm:
                break
            z = self._pinv * r
            rz_new = float(r @ z)
            beta = rz_new / rz
            betas.append(beta)
            rz = rz_new
            p = z + beta * p
        else:
            raise ConvergenceError(
                f"Conjugate gradients did not reach a relative residual of {self.rtol:g} in "
                f"{self.max_iter} iterations (the Hessian is too ill-conditioned for the "
                f"iterative solver). Raise l2, standardise the features, or pass solver='kernel'.")
        self.iterations += it
        true_res = float(np.linalg.norm(b - self.matvec(x))) / bnorm
        self.info.append({"iterations": it, "residual": true_res, "rtol": self.rtol})
        self._ritz = _ritz_extremes(alphas, betas)
        return x

    def matmat(self, V: np.ndarray) -> np.ndarray:
        """H V for V of shape (n_params, m): two products with X for all m columns at once."""
        design, d = self.design, self.design.n_features
        C = design.data_matmat(V[:d])
        if design.fit_intercept:
            C += V[d]
        C *= self.w[:, None]
        out = np.empty(V.shape)
        out[:d] = _features_t(design, C)
        if design.fit_intercept:
            out[d] = C.sum(axis=0)
        out += self.penalty[:, None] * V
        return out

    def solve(self, B: np.ndarray, *, rtol: float | None = None) -> np.ndarray:
        """H⁻¹ B for B of shape (n_params,) or (n_params, m).

        Several right-hand sides are solved by independent CG recursions run side by side
        (:data:`BLOCK` columns at a time), so that each product with X serves them all; each
        column stops at its own residual.  ``rtol`` overrides the factor's for this call.
        """
        saved = self.rtol
        if rtol is not None:
            self.rtol = float(rtol)
        try:
            if B.ndim == 1:
                return self._solve1(B)
            B = np.asarray(B, dtype=np.float64)
            out = np.empty(B.shape)
            for start in range(0, B.shape[1], BLOCK):
                out[:, start:start + BLOCK] = self._solve_block(B[:, start:start + BLOCK])
            return out
        finally:
            self.rtol = saved

    def _solve_block(self, B: np.ndarray) -> np.ndarray:
        """Column-wise CG for B (n_params, m); records one ``info`` entry per column."""
        m = B.shape[1]
        out = np.zeros(B.shape)
        bnorm = np.sqrt(np.einsum("ij,ij->j", B, B))
        iters = np.zeros(m, dtype=np.intp)
        cols = np.flatnonzero(bnorm > 0)                 # the columns still iterating
        X = np.zeros((B.shape[0], cols.size))
        R = B[:, cols].copy()
        Z = self._pinv[:, None] * R
        P = Z.copy()
        rz = np.einsum("ij,ij->j", R, Z)
        it = 0
        while cols.size:
            it += 1
            if it > self.max_iter:
                raise ConvergenceError(
                    f"Conjugate gradients did not reach a relative residual of {self.rtol:g} in "
                    f"{self.max_iter} iterations (the Hessian is too ill-conditioned for the "
                    f"iterative solver). Raise l2, standardise the features, or pass "
                    f"solver='kernel'.")
            AP = self.matmat(P)
            pAp = np.einsum("ij,ij->j", P, AP)
            ok = pAp > 0.0
            alpha = np.where(ok, rz / np.where(ok, pAp, 1.0), 0.0)
            X += alpha * P
            R -= alpha * AP
            iters[cols] = it
            rn = np.sqrt(np.einsum("ij,ij->j", R, R))
            done = ~ok | (rn <= self.rtol * bnorm[cols])
            if done.any():
                out[:, cols[done]] = X[:, done]
                keep = ~done
                cols, X, R, P, rz = cols[keep], X[:, keep], R[:, keep], P[:, keep], rz[keep]
                if not cols.size:
                    break
            Z = self._pinv[:, None] * R
            rz_new = np.einsum("ij,ij->j", R, Z)
            P = Z + (rz_new / rz) * P
            rz = rz_new
        self.iterations += int(iters.sum())
        res = B - self.matmat(out)
        rnorm = np.sqrt(np.einsum("ij,ij->j", res, res))
        for j in range(m):
            self.info.append({"iterations": int(iters[j]),
                              "residual": float(rnorm[j] / bnorm[j]) if bnorm[j] > 0 else 0.0,
                              "rtol": self.rtol})
        return out

    def scaled_condition_estimate(self) -> float:
        """Ratio of the extreme Ritz values of the last solve (a lower bound on the condition of
        the Jacobi-preconditioned Hessian, usually close after a few dozen iterations)."""
        lo, hi = self._ritz
        return float(hi / lo) if lo > 0 else float("inf")

    condition_estimate = scaled_condition_estimate


def _ritz_extremes(alphas, betas) -> tuple[float, float]:
    """Extreme eigenvalues of CG's Lanczos tridiagonal matrix."""
    k = len(alphas)
    if k == 0:
        return (np.nan, np.nan)
    a = np.asarray(alphas)
    b = np.asarray(betas[: k - 1])
    diag = 1.0 / a
    diag[1:] += b / a[:-1]
    off = np.sqrt(b) / a[:-1]
    ev = linalg.eigvalsh_tridiagonal(diag, off) if k > 1 else diag
    return float(ev.min()), float(ev.max())

