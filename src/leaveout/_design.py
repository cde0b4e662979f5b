"""The design matrix X̃ = [X, 1] behind one seam.

Every estimator touches the data only through the methods of a design object, so that sparse,
chunked and distributed designs can slot in later without touching the estimators.  The intercept
column is never materialised: it is handled inside each method.
"""

from __future__ import annotations

import numpy as np

from ._threads import sum_chunks

#: Rows processed at once when a computation would otherwise allocate n × (something) temporaries.
CHUNK_ROWS = 4096


class DenseDesign:
    """A dense design of shape (n_samples, n_features), with an optional unpenalised intercept.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous
    fit_intercept : bool
        If true the parameter vector is ``θ = (β, b)`` with the intercept ``b`` last.
    """

    def __init__(self, X: np.ndarray, fit_intercept: bool):
        self.X = X
        self.fit_intercept = fit_intercept
        self.n_samples, self.n_features = X.shape
        self.n_params = self.n_features + int(fit_intercept)

    def penalty_mask(self) -> np.ndarray:
        """P's diagonal: 1 for a penalised coefficient, 0 for the intercept. Shape (n_params,)."""
        mask = np.ones(self.n_params)
        if self.fit_intercept:
            mask[-1] = 0.0
        return mask

    def matvec(self, theta: np.ndarray) -> np.ndarray:
        """Linear predictor η = X̃ θ, shape (n_samples,)."""
        eta = self.X @ theta[: self.n_features]
        if self.fit_intercept:
            eta += theta[-1]
        return eta

    def matmat(self, V: np.ndarray, sl: slice = slice(None)) -> np.ndarray:
        """X̃[sl] V for V of shape (n_params, m); result (rows in sl, m) (default: all rows)."""
        out = self.X[sl] @ V[: self.n_features]
        if self.fit_intercept:
            out += V[-1]
        return out

    def rmatvec(self, v: np.ndarray) -> np.ndarray:
        """X̃ᵀ v for v of shape (n_samples,); result (n_params,)."""
        out = np.empty(self.n_params)
        out[: self.n_features] = self.X.T @ v
        if self.fit_intercept:
            out[-1] = v.sum()
        return out

    def abs_matvec(self, v: np.ndarray) -> np.ndarray:
        """|X̃| v for v ≥ 0 of shape (n_params,) — sizes of the terms summed into X̃θ."""
        out = np.empty(self.n_samples)
        for start in range(0, self.n_samples, CHUNK_ROWS):
            out[start : start + CHUNK_ROWS] = np.abs(self.X[start : start + CHUNK_ROWS]) @ \
                v[: self.n_features]
        if self.fit_intercept:
            out += v[-1]
        return out

    def abs_rmatvec(self, v: np.ndarray) -> np.ndarray:
        """|X̃|ᵀ v for v ≥ 0 of shape (n_samples,); result (n_params,)."""
        out = np.zeros(self.n_params)
        for start in range(0, self.n_samples, CHUNK_ROWS):
            out[: self.n_features] += np.abs(self.X[start : start + CHUNK_ROWS]).T @ \
                v[start : start + CHUNK_ROWS]
        if self.fit_intercept:
            out[-1] = v.sum()
        return out

    def weighted_gram(self, w: np.ndarray) -> np.ndarray:
        """X̃ᵀ diag(w) X̃, shape (n_params, n_params), accumulated over row chunks.

        w ≥ 0 always (curvatures times sample weights): each chunk S = W^{1/2} X̃ (intercept
        column included) contributes SᵀS, which NumPy computes by a symmetric rank-k update
        (``syrk``: half the flops of a general product, ≈ one ``X.T @ X`` in all).  Chunks are
        added in order (the same bits on any number of threads; see leaveout._threads).
        """
        p = self.n_params
        sw = np.sqrt(w)

        def part(sl):
            S = self.rows_into(sl, np.empty((sl.stop - sl.start, p)))
            S *= sw[sl, None]
            return S.T @ S

        return sum_chunks(part, self.chunk_slices(), np.zeros((p, p)))

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Dense rows X̃[idx], shape (len(idx), n_params)."""
        out = np.empty((len(idx), self.n_params))
        out[:, : self.n_features] = self.X[idx]
        if self.fit_intercept:
            out[:, -1] = 1.0
        return out

    def chunk_slices(self):
        """Row slices of at most CHUNK_ROWS rows covering the design, in order.

        Fixed by n alone (never by the number of threads), so chunked results are reproducible.
        """
        for start in range(0, self.n_samples, CHUNK_ROWS):
            yield slice(start, min(start + CHUNK_ROWS, self.n_samples))

    def rows_into(self, sl: slice, out: np.ndarray) -> np.ndarray:
        """Write the dense rows X̃[sl] into ``out`` (shape (rows in sl, n_params)); return it."""
        out[:, : self.n_features] = self.X[sl]
        if self.fit_intercept:
            out[:, -1] = 1.0
        return out

    def chunks(self):
        """Yield ``(slice, rows)`` over the design, ``rows`` dense X̃ of at most CHUNK_ROWS rows."""
        for sl in self.chunk_slices():
            yield sl, self.rows_into(sl, np.empty((sl.stop - sl.start, self.n_params)))

    def subset(self, keep: np.ndarray) -> "DenseDesign":
        """The design restricted to the rows ``keep`` (an index array)."""
        return DenseDesign(np.ascontiguousarray(self.X[keep]), self.fit_intercept)


def make_design(X: np.ndarray, fit_intercept: bool) -> DenseDesign:
    """Choose the design class for ``X`` (only dense so far)."""
    return DenseDesign(X, fit_intercept)
