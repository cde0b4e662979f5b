"""A ``scipy.sparse`` design X̃ = [X, 1], X held as CSR: products cost O(nnz), X is never densified.

Dense outputs are only ever of the sizes the caller asked for: p-vectors, n-vectors, the rows of a
removal set, K = X Xᵀ (n × n) for the kernel form, and the p × p Gram of the primal form (which
the solver chooser uses only when p is moderate).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._base import carry_kernel, KERNEL_BLOCK, Design


def _dense(M) -> np.ndarray:
    return np.asarray(M.toarray() if sp.issparse(M) else M)


class SparseDesign(Design):
    """A sparse design of shape (n_samples, n_features), with an optional unpenalised intercept.

    Parameters
    ----------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
        float64, canonical (sorted indices, no duplicates): what ``_validation.check_X`` returns.
    fit_intercept : bool
        If true the parameter vector is ``θ = (β, b)`` with the intercept ``b`` last.
    """

    def __init__(self, X: sp.csr_matrix, fit_intercept: bool):
        super().__init__(X, fit_intercept)
        self._abs = None

    @property
    def nnz(self) -> int:
        return int(self.X.nnz)

    @property
    def _absX(self) -> sp.csr_matrix:
        if self._abs is None:
            self._abs = sp.csr_matrix((np.abs(self.X.data), self.X.indices, self.X.indptr),
                                      shape=self.X.shape)
        return self._abs

    def matvec(self, theta: np.ndarray) -> np.ndarray:
        """Linear predictor η = X̃ θ, shape (n_samples,)."""
        eta = np.asarray(self.X @ theta[: self.n_features], dtype=np.float64)
        if self.fit_intercept:
            eta = eta + theta[-1]
        return eta

    def matmat(self, V: np.ndarray, sl: slice = slice(None)) -> np.ndarray:
        """X̃[sl] V for V of shape (n_params, m); result (rows in sl, m) (default: all rows)."""
        out = _dense(self.X[sl] @ V[: self.n_features])
        if self.fit_intercept:
            out = out + _dense(V[-1:]).ravel()
        return out

    def abs_matvec(self, v: np.ndarray) -> np.ndarray:
        """|X̃| v for v ≥ 0 of shape (n_params,) — sizes of the terms summed into X̃θ."""
        out = np.asarray(self._absX @ v[: self.n_features], dtype=np.float64)
        if self.fit_intercept:
            out = out + v[-1]
        return out

    def abs_rmatvec(self, v: np.ndarray) -> np.ndarray:
        """|X̃|ᵀ v for v ≥ 0 of shape (n_samples,); result (n_params,)."""
        return self._with_intercept(self._absX.T @ v, v)

    def sq_rmatvec(self, w: np.ndarray) -> np.ndarray:
        """(X̃ ∘ X̃)ᵀ w: the diagonal of X̃ᵀ diag(w) X̃, shape (n_params,)."""
        X2 = sp.csr_matrix((self.X.data**2, self.X.indices, self.X.indptr), shape=self.X.shape)
        return self._with_intercept(X2.T @ w, w)

    def weighted_gram(self, w: np.ndarray) -> np.ndarray:
        """X̃ᵀ diag(w) X̃, dense (n_params, n_params), by a sparse product (no BLAS syrk)."""
        p, d = self.n_params, self.n_features
        G = np.empty((p, p))
        S = sp.csr_matrix((self.X.data * np.repeat(w, np.diff(self.X.indptr)), self.X.indices,
                           self.X.indptr), shape=self.X.shape)   # W X
        G[:d, :d] = _dense(self.X.T @ S)
        if self.fit_intercept:
            G[:d, d] = self.X.T @ w
            G[d, :d] = G[:d, d]
            G[d, d] = w.sum()
        return G

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Dense rows X̃[idx], shape (len(idx), n_params)."""
        out = np.empty((len(idx), self.n_params))
        out[:, : self.n_features] = self.X[idx].toarray()
        if self.fit_intercept:
            out[:, -1] = 1.0
        return out

    def rows_into(self, sl: slice, out: np.ndarray) -> np.ndarray:
        """Write the dense rows X̃[sl] into ``out`` (shape (rows in sl, n_params)); return it."""
        out[:, : self.n_features] = self.X[sl].toarray()
        if self.fit_intercept:
            out[:, -1] = 1.0
        return out

    def subset(self, keep: np.ndarray) -> "SparseDesign":
        """The design restricted to the rows ``keep`` (an index array or boolean mask)."""
        return carry_kernel(self, SparseDesign(self.X[keep], self.fit_intercept), keep)

    # -- the kernel form ------------------------------------------------------------------------
    def kernel(self) -> np.ndarray:
        """K = X Xᵀ, dense (n_samples, n_samples), by blocks of rows: the blocks on and above
        the diagonal by sparse products, the rest mirrored."""
        n = self.n_samples
        K = np.empty((n, n))
        for start in range(0, n, KERNEL_BLOCK):
            stop = min(n, start + KERNEL_BLOCK)
            K[start:stop, start:] = _dense(self.X[start:stop] @ self.X[start:].T)
            K[stop:, start:stop] = K[start:stop, stop:].T
        return K

    def kernel_columns(self, idx: np.ndarray) -> np.ndarray:
        """K[:, idx] = X X[idx]ᵀ, shape (n_samples, len(idx))."""
        return _dense(self.X @ self.X[idx].T)

    def feature_matmat(self, C: np.ndarray) -> np.ndarray:
        """Xᵀ C (no intercept row) for C of shape (n_samples, m); result (n_features, m)."""
        return _dense(self.X.T @ C)

    def data_matmat(self, V) -> np.ndarray:
        """X V (no intercept) for V of shape (n_features, m), dense or sparse; result (n, m)."""
        return _dense(self.X @ V)

    def state_arrays(self) -> tuple:
        """Arrays that identify the data (for checkpoint fingerprints)."""
        return (np.asarray(self.X.shape), self.X.indptr, self.X.indices, self.X.data)
