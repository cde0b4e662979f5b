"""The kernel form of DESIGN.md §5: H⁻¹ through an (n+1) × (n+1) bordered system, never p × p.

With S = W^{1/2} X (n × d), u = W^{1/2} 1, K = X Xᵀ and A = S Sᵀ = W^{1/2} K W^{1/2}, solving
H z = v for any v = (v_β, v_b) reduces to the bordered system

    M [t; s] = [S v_β; v_b],   M = [[A + λI, u], [uᵀ, 0]]     (no intercept: (A + λI) t = S v_β)

and then z_β = (v_β − Sᵀ t) / λ, z_b = −s / λ.  M is factored through the Cholesky factor of
A + λI (positive definite for λ > 0) and the scalar Schur complement σ = uᵀ(A + λI)⁻¹u.  Every
quantity the estimators need follows from n-space solves:

- H⁻¹ X̃ᵀ c (a removal set's gradient, c supported on the set): Kc replaces S v_β;
- X̃ H⁻¹ J (a target's gradients at every row): (XJ − K W^{1/2} t − s) / λ;
- C = X̃_T H⁻¹ X̃_Tᵀ (Newton's k × k Woodbury block): the same with J = X̃_Tᵀ;
- leverages: 1 − h = λ · diag((M⁻¹)₁₁) = λ (diag((A + λI)⁻¹) − q² / σ), q = (A + λI)⁻¹u.

Cost: K once (O(n · nnz) sparse, O(n²p/2) dense), n³/3 per factorisation, n³/3 more for the
leverages (both blocked, on the chunk workers: ``solvers._blocked``); memory ≈ 2 n² floats
(K and the factor).  Needs λ > 0.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import linalg
from scipy.linalg import blas, lapack

from .._solve import _pocon
from ..exceptions import SingularHessianError
from ._blocked import cholesky_inplace, inverse_column_norms

logger = logging.getLogger(__name__)


def design_kernel(design) -> np.ndarray:
    """K = X Xᵀ of ``design``, computed once and cached on it (read-only)."""
    K = getattr(design, "_kernel_cache", None)
    if K is None:
        K = design.kernel()
        K.flags.writeable = False
        design._kernel_cache = K
    return K


def _one_norms(B: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """‖B‖₁ and ‖D^-1/2 B D^-1/2‖₁ (D = diag B) by blocks of rows, without n × n temporaries."""
    n = B.shape[0]
    if n == 0:
        return 0.0, 0.0
    col, scol = np.zeros(n), np.zeros(n)
    for start in range(0, n, 256):
        blk = np.abs(B[start : start + 256])
        col += blk.sum(axis=0)
        scol += (blk / d[start : start + 256, None]).sum(axis=0)
    return float(col.max()), float((scol / d).max())


def _zero_upper(L: np.ndarray) -> None:
    """Zero the strict upper triangle of a square array in place, a block of rows at a time."""
    n = L.shape[0]
    for start in range(0, n, 256):
        stop = min(n, start + 256)
        for i in range(start, stop):
            L[i, i + 1 :] = 0.0


class KernelFactor:
    """H⁻¹ in the kernel form for ``design`` at row curvatures ``w`` and penalty ``l2`` > 0.

    Parameters
    ----------
    design : DenseDesign or SparseDesign
    w : ndarray of shape (n_samples,)
        Row curvatures w_i ≥ 0.
    l2 : float
        λ > 0.
    """

    kind = "kernel"

    def __init__(self, design, w: np.ndarray, l2: float):
        if not l2 > 0.0:
            raise ValueError("The kernel form needs l2 > 0.")
        self.design = design
        self.l2 = float(l2)
        self.n = design.n_params
        self.sw = np.sqrt(w)
        K = design_kernel(design)
        B = K * self.sw[:, None]
        B *= self.sw[None, :]
        B[np.diag_indices_from(B)] += self.l2
        d = np.sqrt(np.diag(B))
        self._anorm, self._scaled_anorm = _one_norms(B, d)
        self._d = d
        # B is symmetric, so its transpose is the same matrix in Fortran order, factored in
        # place by blocks on the chunk workers (solvers._blocked).
        try:
            L = cholesky_inplace(B.T)
        except linalg.LinAlgError:
            raise SingularHessianError(
                "The kernel matrix W^1/2 K W^1/2 + l2·I is not numerically positive definite: "
                "the weights or feature scales span more orders of magnitude than float64 holds. "
                "Rescale the features or bring the weights closer together.") from None
        _zero_upper(L)
        self._L = L
        del B
        if not np.all(np.isfinite(self._L)):
            raise SingularHessianError("The kernel matrix has non-finite entries; check the inputs.")
        self._c = (self._L, True)
        self.fit_intercept = design.fit_intercept
        if self.fit_intercept:
            self._q = self._solve_B(self.sw)
            self._sigma = float(self.sw @ self._q)
            if not self._sigma > 0.0:
                raise SingularHessianError(
                    "No row has positive curvature, so nothing determines the intercept.")

    # -- n-space solves -----------------------------------------------------------------------
    def _solve_B(self, R: np.ndarray) -> np.ndarray:
        return linalg.cho_solve(self._c, R, check_finite=False)

    def _solve_n(self, R: np.ndarray, top):
        """[t; s] with M [t; s] = [R; top]; R of shape (n,) or (n, m), top (m,) (intercept)."""
        t = self._solve_B(R)
        if not self.fit_intercept:
            return t, None
        s = (self.sw @ t - top) / self._sigma
        t = t - (np.outer(self._q, s) if t.ndim == 2 else self._q * s)
        return t, s

    def _K_matmat(self, C: np.ndarray) -> np.ndarray:
        """K C for C (n,) or (n, m): through X when X has fewer entries than K."""
        design = self.design
        if design.nnz < design.n_samples**2:
            C2 = C[:, None] if C.ndim == 1 else C
            out = design.data_matmat(design.feature_matmat(C2))
            return out[:, 0] if C.ndim == 1 else out
        return design_kernel(design) @ C

    # -- the operations of the solver seam ------------------------------------------------------
    def solve(self, V: np.ndarray) -> np.ndarray:
        """H⁻¹ V for any V of shape (n_params,) or (n_params, m)."""
        design, d = self.design, self.design.n_features
        one = V.ndim == 1
        V2 = V[:, None] if one else V
        R = design.data_matmat(V2[:d]) * self.sw[:, None]
        t, s = self._solve_n(R, V2[d] if self.fit_intercept else None)
        out = np.empty(V2.shape)
        out[:d] = (V2[:d] - design.feature_matmat(self.sw[:, None] * t)) / self.l2
        if self.fit_intercept:
            out[d] = -s / self.l2
        return out[:, 0] if one else out

    #: Largest n for which :meth:`inverse_product` forms (A + λI)⁻¹ (n² floats: 128 MB).
    INVERSE_MAX_ROWS = 4096

    def inverse_product(self, V: np.ndarray) -> np.ndarray:
        """H⁻¹V like :meth:`solve`, for V of shape (p,) or (m, p) (rows), with the n-space
        solve of a single right-hand side by one ``symv`` with the explicit (A + λI)⁻¹
        (LAPACK ``potri`` on the factor, formed on first use, n ≤ :data:`INVERSE_MAX_ROWS`).

        For the many single solves of refined Newton steps, where two memory-bound triangular
        solves (``potrs``) cost several times one symmetric product (measured one thread,
        n = 300: 34 µs against 6 µs); their fixed point does not depend on how H⁻¹ is applied.
        """
        if V.ndim != 1 or self.design.n_samples > self.INVERSE_MAX_ROWS:
            return self.solve(V) if V.ndim == 1 else self.solve(V.T).T
        Binv = self._explicit_inverse()
        design, d = self.design, self.design.n_features
        vb = V[:d]
        t = blas.dsymv(1.0, Binv, self.sw * design.data_matmat(vb), lower=1)
        out = np.empty(V.shape)
        if self.fit_intercept:
            s = (self.sw @ t - V[d]) / self._sigma
            t -= self._q * s
            out[d] = -s / self.l2
        out[:d] = vb - design.feature_matmat(self.sw * t)
        out[:d] /= self.l2
        return out

    def _explicit_inverse(self) -> np.ndarray:
        """(A + λI)⁻¹'s lower triangle, Fortran order (LAPACK ``potri`` on the factor)."""
        inv = getattr(self, "_Binv", None)
        if inv is None:
            inv, info = lapack.dpotri(np.asfortranarray(self._L), lower=1)
            if info != 0:  # pragma: no cover - the factor is finite and non-singular
                raise SingularHessianError("LAPACK potri failed on the kernel factor.")
            self._Binv = inv
        return inv

    def solve_rows_t(self, c: np.ndarray) -> np.ndarray:
        """H⁻¹ X̃ᵀ c for c of shape (n_samples,): a removal set's gradient when c is r on T."""
        design, d = self.design, self.design.n_features
        t, s = self._solve_n(self.sw * self._K_matmat(c), c.sum() if self.fit_intercept else None)
        out = np.empty(design.n_params)
        out[:d] = design.feature_matmat((c - self.sw * t)[:, None])[:, 0] / self.l2
        if self.fit_intercept:
            out[d] = -s / self.l2
        return out

    def design_solve(self, J) -> np.ndarray:
        """X̃ H⁻¹ J for J of shape (n_params, m), dense or sparse; result (n_samples, m)."""
        design, d = self.design, self.design.n_features
        XJ = design.data_matmat(J[:d])
        top = None
        if self.fit_intercept:
            top = np.asarray(J[d:].toarray() if hasattr(J, "toarray") else J[d:]).ravel()
        t, s = self._solve_n(XJ * self.sw[:, None], top)
        out = XJ - self._K_matmat(self.sw[:, None] * t)
        if self.fit_intercept:
            out -= s[None, :]
        return out / self.l2

    def cross(self, T: np.ndarray) -> np.ndarray:
        """C = X̃_T H⁻¹ X̃_Tᵀ, shape (k, k), for the rows T."""
        KT = self.design.kernel_columns(T)                 # K[:, T], (n, k)
        top = np.ones(T.size) if self.fit_intercept else None
        t, s = self._solve_n(KT * self.sw[:, None], top)
        C = KT[T] - KT.T @ (self.sw[:, None] * t)
        if self.fit_intercept:
            C -= s[None, :]
        C /= self.l2
        return 0.5 * (C + C.T)

    def gap(self) -> np.ndarray:
        """1 − h_i = λ · diag((M⁻¹)₁₁), shape (n_samples,), without forming M⁻¹."""
        diag = inverse_column_norms(self._L)               # diag((A + λI)⁻¹)
        if self.fit_intercept:
            diag = diag - self._q**2 / self._sigma
        return self.l2 * diag

    def row_solves(self) -> np.ndarray:
        """H⁻¹ x̃_i for every row, shape (n_samples, n_params) (the caller checks the size)."""
        design, d = self.design, self.design.n_features
        n = design.n_samples
        out = np.empty((n, design.n_params))
        K = design_kernel(design)
        step = max(1, min(n, (1 << 24) // max(design.n_params, 1)))
        for start in range(0, n, step):
            idx = np.arange(start, min(n, start + step))
            E = np.zeros((n, idx.size))
            E[idx, np.arange(idx.size)] = 1.0
            t, s = self._solve_n(self.sw[:, None] * K[:, idx],
                                 np.ones(idx.size) if self.fit_intercept else None)
            out[idx, :d] = design.feature_matmat(E - self.sw[:, None] * t).T / self.l2
            if self.fit_intercept:
                out[idx, d] = -s / self.l2
        return out

    def condition_estimate(self) -> float:
        """Condition estimate of A + λI (LAPACK ``pocon``): H's spectrum is λ plus A's."""
        return _pocon(self._L, self._anorm)

    def scaled_condition_estimate(self) -> float:
        """The same for the equilibrated D^-1/2 (A + λI) D^-1/2."""
        return _pocon(self._L / self._d[:, None], self._scaled_anorm)
