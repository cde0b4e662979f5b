"""Factorisations of the Hessian: Cholesky, its solves, and products with inverses derived from it.

Two explicit inverses are derived from the Cholesky factor H = L Lᵀ, never a general-purpose
inverse of H: the triangular L⁻¹ (LAPACK ``trtri``), applied to blocks of rows by BLAS ``trmm``
(on n-row blocks ≈ 2.5× faster than SciPy's ``solve_triangular`` per flop, measured on one
thread), and H⁻¹ = L⁻ᵀL⁻¹ from it (LAPACK ``lauum``), applied by one ``gemm`` (≈ 0.8× the time
of the two ``trmm`` it replaces).  tests/test_fast_products.py compares both against Cholesky
solves and extended precision, on well- and ill-conditioned Hessians.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.linalg import blas, lapack

from .exceptions import SingularHessianError


class CholeskyFactor:
    """Cholesky factorisation of a symmetric positive definite matrix H (p × p).

    Raises
    ------
    SingularHessianError
        If H is not numerically positive definite.
    """

    def __init__(self, H: np.ndarray, *, what: str = "Hessian"):
        self.n = H.shape[0]
        # 1-norms of H and of the equilibrated D^-1/2 H D^-1/2 (D = diag H), for the condition
        # estimates; one p × p temporary.
        self._d = np.sqrt(np.abs(np.diag(H)))
        A = np.abs(H)
        self._anorm = float(A.sum(axis=0).max()) if self.n else 0.0
        self._scaled_anorm = np.inf
        if self.n and self._d.min() > 0 and np.isfinite(self._d).all():
            A /= self._d[:, None]
            A /= self._d[None, :]
            self._scaled_anorm = float(A.sum(axis=0).max())
        del A
        try:
            self._c = linalg.cho_factor(H, lower=True, check_finite=False)
        except linalg.LinAlgError:
            raise SingularHessianError(
                f"The {what} is singular or indefinite, so the optimum is not unique. This "
                f"happens with l2=0 when features outnumber rows, with constant or duplicated "
                f"columns, or with a feature that is zero on every retained row. Use l2 > 0, "
                f"or drop the redundant columns. With l2 > 0 it is rounding: the Hessian's "
                f"entries span more orders of magnitude than float64 holds (sample weights or "
                f"feature scales that differ by ~1e15 or more); rescale the features or bring "
                f"the weights closer together."
            ) from None
        if not np.all(np.isfinite(self._c[0])):
            raise SingularHessianError(f"The {what} has non-finite entries; check the inputs.")
        self._linv = None
        self._inv = None
        self._scaled_cond = None

    def solve(self, B: np.ndarray) -> np.ndarray:
        """H⁻¹ B for B of shape (p,) or (p, m).

        LAPACK ``potrs`` called directly — what ``cho_solve`` calls, bit for bit, without its
        per-call checks, which cost more than the solve itself at small p (refined Newton steps
        make a few such solves per step).
        """
        return lapack.dpotrs(self._c[0], B, lower=1)[0]

    def solve_lower(self, B: np.ndarray) -> np.ndarray:
        """L⁻¹ B where H = L Lᵀ."""
        return linalg.solve_triangular(self._c[0], B, lower=True, check_finite=False)

    @property
    def lower_inverse(self) -> np.ndarray:
        """L⁻¹ (p × p, lower triangular, Fortran order), from the factor by LAPACK ``trtri``.

        Computed once, on first use (p³/3 flops); the strict upper triangle is not referenced.
        """
        if self._linv is None:
            linv, info = lapack.dtrtri(self._c[0], lower=1)
            if info != 0:  # pragma: no cover - a finite Cholesky factor has a non-zero diagonal
                raise SingularHessianError("The Cholesky factor of the Hessian is singular.")
            self._linv = linv
        return self._linv

    @property
    def inverse(self) -> np.ndarray:
        """H⁻¹ = L⁻ᵀL⁻¹ (p × p, symmetric, C-contiguous, read-only), from :attr:`lower_inverse`
        by LAPACK ``lauum`` (p³/3 flops); computed once, on first use.

        Used where one product with it beats solves: the per-row products X̃H⁻¹ of well-
        conditioned Hessians (:meth:`leaveout.estimators.FittedState._per_row_params`) and, at
        small p, the curvature matrices of refined Newton steps (leaveout._refine).
        """
        if self._inv is None:
            low, info = lapack.dlauum(self.lower_inverse, lower=1)
            if info != 0:  # pragma: no cover - lauum fails only on invalid arguments
                raise SingularHessianError("LAPACK lauum failed on the inverse factor.")
            low = np.tril(low)
            inv = low + np.tril(low, -1).T
            inv.flags.writeable = False
            self._inv = inv
        return self._inv

    #: Largest p for which :meth:`inverse_product` forms H⁻¹ (p² floats: 128 MB at 4096).
    INVERSE_MAX_PARAMS = 4096

    def inverse_product(self, V: np.ndarray) -> np.ndarray:
        """H⁻¹V for V of shape (p,) or (m, p) (rows), by a product with :attr:`inverse`
        (formed on first use, 2p³/3 flops) where p ≤ :data:`INVERSE_MAX_PARAMS`, else by
        :meth:`solve`.

        For the many solves of refined Newton steps, whose fixed point (the exact refit) does
        not depend on how the curvature is applied: one ``symv`` reads the p × p inverse once
        where ``potrs``'s two triangular solves are memory-bound and run at a fraction of its
        rate (measured one thread, p = 556: 17 µs against 120 µs).  A symmetric C-ordered H⁻¹
        is its own transpose in Fortran order, so BLAS reads it without a copy.
        """
        if self.n > self.INVERSE_MAX_PARAMS:
            return self.solve(V) if V.ndim == 1 else self.solve(V.T).T
        inv = self.inverse
        if V.ndim == 1:
            return blas.dsymv(1.0, inv.T, V, lower=1)
        return V @ inv

    def whiten_rows(self, R: np.ndarray) -> np.ndarray:
        """R ← R L⁻ᵀ in place, for R of shape (k, p), C-contiguous; returns R.

        Row i becomes (L⁻¹ r_i)ᵀ, so ‖row‖² = r_iᵀ H⁻¹ r_i.  One BLAS ``trmm`` on Rᵀ (which is
        Fortran-ordered), no copy.
        """
        return self._trmm(R, trans=0)

    def unwhiten_rows(self, R: np.ndarray) -> np.ndarray:
        """R ← R L⁻¹ in place (shape (k, p), C-contiguous); returns R.

        After :meth:`whiten_rows`, row i becomes (L⁻ᵀ L⁻¹ r_i)ᵀ = (H⁻¹ r_i)ᵀ.
        """
        return self._trmm(R, trans=1)

    def _trmm(self, R: np.ndarray, trans: int) -> np.ndarray:
        if R.shape[0] == 0 or self.n == 0:
            return R
        if not R.flags.c_contiguous:  # pragma: no cover - callers pass contiguous blocks
            raise ValueError("whiten_rows/unwhiten_rows need a C-contiguous block")
        out = blas.dtrmm(1.0, self.lower_inverse, R.T, lower=1, trans_a=trans, overwrite_b=1)
        if not np.shares_memory(out, R):  # pragma: no cover - f2py copied after all
            R[...] = out.T
        return R

    def condition_estimate(self) -> float:
        """Estimate of the 1-norm condition number of H (LAPACK ``pocon``)."""
        return _pocon(self._c[0], self._anorm)

    def scaled_condition_estimate(self) -> float:
        """Condition estimate of the equilibrated D^-1/2 H D^-1/2 (D = diag H).

        Unlike :meth:`condition_estimate` it ignores the scale of the features: it is large only
        when columns of the design are (nearly) linearly dependent.  Its Cholesky factor is
        D^-1/2 L, so no new factorisation is needed.
        """
        if self._scaled_cond is None:
            self._scaled_cond = float("inf") if not np.isfinite(self._scaled_anorm) else \
                _pocon(self._c[0] / self._d[:, None], self._scaled_anorm)
        return self._scaled_cond


def _pocon(L: np.ndarray, anorm: float) -> float:
    """1 / (LAPACK ``pocon``'s reciprocal condition estimate) for H = L Lᵀ with ‖H‖₁ = anorm."""
    if L.shape[0] == 0:
        return 1.0
    (pocon,) = linalg.get_lapack_funcs(("pocon",), (L,))
    rcond, info = pocon(L, anorm, uplo="L")
    return float(1.0 / rcond) if info == 0 and rcond > 0 else float("inf")


def factorize(H: np.ndarray, *, what: str = "Hessian") -> CholeskyFactor:
    """Factorise H; the one place that chooses a factorisation (dense Cholesky so far)."""
    return CholeskyFactor(H, what=what)
