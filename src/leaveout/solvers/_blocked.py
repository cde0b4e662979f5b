"""Blocked Cholesky factorisation and inverse column norms on the chunk workers.

Inside an attribution every BLAS call runs on one thread (leaveout._threads), so LAPACK's
``potrf`` and ``trtri`` on the n × n kernel matrix would use one core.  These blocked versions
split the same work into BLAS-3 calls on blocks of ``BLOCK`` rows or columns whose boundaries
depend on n alone, run ``workers`` at a time (:func:`~leaveout._threads.map_chunks`): every
entry is computed by the same sequence of operations whatever the number of workers, so the
result is the same to the bit on any thread count.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from .._threads import map_chunks

#: Rows / columns per block.
BLOCK = 256


def _strips(start: int, n: int):
    return [slice(s, min(n, s + BLOCK)) for s in range(start, n, BLOCK)]


def cholesky_inplace(A: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of the symmetric positive definite ``A``, written over its
    lower triangle (right-looking, by blocks); the strict upper triangle is left unspecified.

    ``A`` should be Fortran-ordered (column strips are contiguous).  Raises
    ``numpy.linalg.LinAlgError`` when ``A`` is not numerically positive definite.
    """
    n = A.shape[0]
    for k0 in range(0, n, BLOCK):
        k1 = min(n, k0 + BLOCK)
        Lkk = linalg.cholesky(A[k0:k1, k0:k1], lower=True, check_finite=False)
        A[k0:k1, k0:k1] = Lkk
        if k1 == n:
            break

        def panel(sl, k0=k0, k1=k1, Lkk=Lkk):    # L[i, k] = A[i, k] L_kk⁻ᵀ
            A[sl, k0:k1] = linalg.solve_triangular(Lkk, A[sl, k0:k1].T, lower=True,
                                                   check_finite=False).T

        map_chunks(panel, _strips(k1, n))

        def update(sl, k0=k0, k1=k1):             # A[j:, j] −= L[j:, k] L[j, k]ᵀ
            A[sl.start:, sl] -= A[sl.start:, k0:k1] @ A[sl, k0:k1].T

        map_chunks(update, _strips(k1, n))
    return A


def inverse_column_norms(L: np.ndarray) -> np.ndarray:
    """Σ_k (L⁻¹)_{kj}² for every column j: the diagonal of (L Lᵀ)⁻¹, shape (n,).

    Each block of columns of L⁻¹ (zero above its diagonal block) is found by blocked forward
    substitution and reduced to its column norms at once: at most ``workers`` blocks of
    n × BLOCK are held, never L⁻¹ itself.  Only the lower triangle of ``L`` is read.
    """
    n = L.shape[0]
    out = np.empty(n)

    def columns(sl):
        j0, j1 = sl.start, sl.stop
        Z = np.zeros((n - j0, j1 - j0))
        for i in _strips(j0, n):
            rhs = -(L[i, j0:i.start] @ Z[: i.start - j0]) if i.start > j0 else np.eye(j1 - j0)
            Z[i.start - j0 : i.stop - j0] = linalg.solve_triangular(
                L[i, i], rhs, lower=True, check_finite=False)
        out[j0:j1] = np.einsum("ij,ij->j", Z, Z)

    map_chunks(columns, _strips(0, n))
    return out
