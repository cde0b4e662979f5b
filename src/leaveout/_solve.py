"""Factorisations of the Hessian.  Cholesky and solves only: no explicit inverse anywhere."""

from __future__ import annotations

import numpy as np
from scipy import linalg

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
        self._anorm = float(np.abs(H).sum(axis=0).max()) if self.n else 0.0
        try:
            self._c = linalg.cho_factor(H, lower=True, check_finite=False)
        except linalg.LinAlgError:
            raise SingularHessianError(
                f"The {what} is singular or indefinite, so the optimum is not unique. This "
                f"happens with l2=0 when features outnumber rows, with constant or duplicated "
                f"columns, or with a feature that is zero on every retained row. Use l2 > 0, "
                f"or drop the redundant columns."
            ) from None
        if not np.all(np.isfinite(self._c[0])):
            raise SingularHessianError(f"The {what} has non-finite entries; check the inputs.")

    def solve(self, B: np.ndarray) -> np.ndarray:
        """H⁻¹ B for B of shape (p,) or (p, m)."""
        return linalg.cho_solve(self._c, B, check_finite=False)

    def solve_lower(self, B: np.ndarray) -> np.ndarray:
        """L⁻¹ B where H = L Lᵀ."""
        return linalg.solve_triangular(self._c[0], B, lower=True, check_finite=False)

    def condition_estimate(self) -> float:
        """Estimate of the 1-norm condition number of H (LAPACK ``pocon``)."""
        if self.n == 0:
            return 1.0
        try:
            (pocon,) = linalg.get_lapack_funcs(("pocon",), (self._c[0],))
            rcond, info = pocon(self._c[0], self._anorm, lower=1)
            if info == 0 and rcond > 0:
                return float(1.0 / rcond)
        except Exception:  # pragma: no cover - very old SciPy without pocon
            pass
        d = np.abs(np.diag(self._c[0]))
        return float((d.max() / d.min()) ** 2) if d.min() > 0 else float("inf")


def factorize(H: np.ndarray, *, what: str = "Hessian") -> CholeskyFactor:
    """Factorise H; the one place that chooses a factorisation (dense Cholesky so far)."""
    return CholeskyFactor(H, what=what)
