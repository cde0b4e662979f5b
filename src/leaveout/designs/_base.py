"""What every design backend provides: the interface of DESIGN.md §8.

A design is X̃ = [X, 1] (the intercept column, when there is one, is never materialised: each
method handles it).  The estimators, the fit and the solvers touch the data only through these
methods, so a new backend (sparse, chunked, Dask) is one small module implementing them:

==========================  =======================================================================
``n_samples, n_features``   shape of X; ``n_params = n_features + fit_intercept``
``matvec(θ)``               X̃ θ, shape (n,)
``matmat(V)``               X̃ V for V (n_params, m), result (n, m)
``matmat_into(V, sl, out)`` X̃[sl] V written into ``out`` (rows in sl, m)
``row_dots(sl, B)``         x̃_i·B_i for the rows i of sl, B of shape (rows in sl, n_params)
``rmatvec(c)``              X̃ᵀ c, shape (n_params,)
``abs_matvec / abs_rmatvec`` |X̃| v and |X̃|ᵀ c (sizes of the terms summed, for rounding bounds)
``weighted_gram(w)``        X̃ᵀ diag(w) X̃, dense (n_params, n_params): the primal Hessian's data part
``rows(idx)``               dense X̃[idx], (len(idx), n_params)
``rows_into(sl, out)``      dense X̃[sl] written into ``out`` (a slice of rows)
``chunk_slices()``          row slices of at most ``chunk_rows(n_params)`` rows, in order
``solve_slices()``          row slices for per-row products with H⁻¹ (``solve_rows(n_params)``)
``chunks()``                ``(slice, dense rows)`` over those slices
``subset(keep)``            the design on the rows ``keep``
``nnz``                     stored entries of X (the cost unit of a product with X)
``kernel()``                K = X Xᵀ, dense (n, n) (no intercept: the kernel form borders it)
``kernel_columns(idx)``     K[:, idx], (n, len(idx))
``feature_matmat(C)``       Xᵀ C for C (n, m), dense (n_features, m)
``data_matmat(V)``          X V for V (n_features, m) dense or sparse, dense (n, m)
``state_arrays()``          arrays identifying the data (checkpoint fingerprints)
``value_and_gradient``      optional (dense): Σ v_i, X̃ᵀr and η in one fused sweep (the fit's
                            L-BFGS phase runs only on designs that have it)
==========================  =======================================================================
"""

from __future__ import annotations

import numpy as np

#: Rows processed at once when a computation would otherwise allocate n × (something) temporaries.
CHUNK_ROWS = 4096
#: Rows of K = X Xᵀ computed per block.
KERNEL_BLOCK = 1024
#: Largest dense chunk, in float64 entries, that ``chunks()`` of a wide design allocates (128 MB).
CHUNK_ENTRIES = 1 << 24


def chunk_rows(n_params: int) -> int:
    """Rows per dense chunk: :data:`CHUNK_ROWS`, fewer for wide designs."""
    return max(1, min(CHUNK_ROWS, CHUNK_ENTRIES // max(n_params, 1)))


#: Rows per block of the per-row products with H⁻¹ (two triangular products, the row norms and
#: the scaling of each block while it is in cache) at up to SOLVE_NARROW_PARAMS parameters.
#: Measured on one thread (all-row RIF, 10,000-20,000 rows): 0.9× the time of 4096-row blocks
#: at p = 100, no difference at p = 500, where 4096-row blocks stay.
SOLVE_ROWS = 1024
SOLVE_NARROW_PARAMS = 256


def solve_rows(n_params: int) -> int:
    """Rows per block of the per-row triangular products (fixed by the shape alone)."""
    return SOLVE_ROWS if n_params <= SOLVE_NARROW_PARAMS else chunk_rows(n_params)


def carry_kernel(parent, child, keep: np.ndarray):
    """Give ``child`` (``parent.subset(keep)``) the rows and columns ``keep`` of the parent's
    cached K = X Xᵀ, when the parent has one: a refit then need not recompute K."""
    K = getattr(parent, "_kernel_cache", None)
    if K is not None:
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        Ks = K[np.ix_(idx, idx)]
        Ks.flags.writeable = False
        child._kernel_cache = Ks
    return child


def penalty_mask(n_params: int, fit_intercept: bool) -> np.ndarray:
    """P's diagonal: 1 for a penalised coefficient, 0 for the intercept. Shape (n_params,)."""
    mask = np.ones(n_params)
    if fit_intercept:
        mask[-1] = 0.0
    return mask


def _slices(n: int, step: int):
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


class Design:
    """What the backends share: the shape, P, X̃ᵀc and the dense row chunks.

    A subclass sets ``X`` (anything with ``shape`` and ``X.T @ v``) and implements the other
    methods of the table above.
    """

    def __init__(self, X, fit_intercept: bool):
        self.X = X
        self.fit_intercept = fit_intercept
        self.n_samples, self.n_features = X.shape
        self.n_params = self.n_features + int(fit_intercept)

    def penalty_mask(self) -> np.ndarray:
        """P's diagonal: 1 for a penalised coefficient, 0 for the intercept. Shape (n_params,)."""
        return penalty_mask(self.n_params, self.fit_intercept)

    def _with_intercept(self, features: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(features, Σ v) as a vector of shape (n_params,): X̃ᵀ-type products whose intercept
        column is the ones vector, so its entry is the plain sum of ``v``."""
        out = np.empty(self.n_params)
        out[: self.n_features] = features
        if self.fit_intercept:
            out[-1] = v.sum()
        return out

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        """X̃ᵀ v for v of shape (n_samples,); result (n_params,)."""
        return self._with_intercept(self.X.T @ v, v)

    def chunk_slices(self):
        """Row slices of at most ``chunk_rows(n_params)`` rows covering the design, in order.

        Fixed by the shape alone (never by the number of threads), so chunked results are
        reproducible.
        """
        return _slices(self.n_samples, chunk_rows(self.n_params))

    def solve_slices(self):
        """Row slices of ``solve_rows(n_params)`` rows for per-row products with H⁻¹, in order
        (fixed by the shape alone, like :meth:`chunk_slices`)."""
        return _slices(self.n_samples, solve_rows(self.n_params))

    def matmat_into(self, V: np.ndarray, sl: slice, out: np.ndarray) -> np.ndarray:
        """Write X̃[sl] V (V of shape (n_params, m)) into ``out`` (rows in sl, m); return it."""
        out[...] = self.matmat(V, sl)
        return out

    def row_dots(self, sl: slice, B: np.ndarray) -> np.ndarray:
        """Σ_j X̃_ij B_ij for each row i of sl, B of shape (rows in sl, n_params); (rows in sl,)."""
        rows = self.rows_into(sl, np.empty((sl.stop - sl.start, self.n_params)))
        return np.einsum("ij,ij->i", rows, B)

    def chunks(self):
        """Yield ``(slice, rows)`` over the design, ``rows`` dense X̃ of a chunk's rows."""
        for sl in self.chunk_slices():
            yield sl, self.rows_into(sl, np.empty((sl.stop - sl.start, self.n_params)))
