"""A dense NumPy design X̃ = [X, 1] (the intercept column is never materialised)."""

from __future__ import annotations

import threading

import numpy as np

from .._threads import sum_chunks
from ._base import carry_kernel, CHUNK_ROWS, KERNEL_BLOCK, Design, _slices

#: Bytes of X per chunk of a fused sweep (η and X̃ᵀr from the same rows while they are in cache).
FUSED_BYTES = 2**20
#: Bytes of X per chunk of :meth:`DenseDesign.sq_rmatvec`.
SQUARE_BYTES = 2**20


def _buffer(local: threading.local, shape: tuple) -> np.ndarray:
    """A float64 array of ``shape`` from this thread's buffer in ``local`` (made once per
    thread, at the first and largest shape: the chunks after the first are never larger)."""
    buf = getattr(local, "buf", None)
    if buf is None or buf.size < shape[0] * shape[1]:
        buf = local.buf = np.empty(shape[0] * shape[1])
    return buf[: shape[0] * shape[1]].reshape(shape)


class DenseDesign(Design):
    """A dense design of shape (n_samples, n_features), with an optional unpenalised intercept.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64, C-contiguous
    fit_intercept : bool
        If true the parameter vector is ``θ = (β, b)`` with the intercept ``b`` last.
    """

    def matvec(self, theta: np.ndarray) -> np.ndarray:
        """Linear predictor η = X̃ θ, shape (n_samples,)."""
        eta = self.X @ theta[: self.n_features]
        if self.fit_intercept:
            eta += theta[-1]
        return eta

    def matmat(self, V: np.ndarray, sl: slice = slice(None)) -> np.ndarray:
        """X̃[sl] V for V of shape (n_params, m); result (rows in sl, m) (default: all rows)."""
        # A C-ordered copy of the (small) V: NumPy's product with a Fortran-ordered slice of it
        # runs ≈ 3× slower (measured, one thread).
        out = self.X[sl] @ np.ascontiguousarray(V[: self.n_features])
        if self.fit_intercept:
            out += V[-1]
        return out

    def matmat_into(self, V: np.ndarray, sl: slice, out: np.ndarray) -> np.ndarray:
        """Write X̃[sl] V (V of shape (n_params, m), C-contiguous) into ``out`` (C-contiguous,
        rows in sl × m) by one ``gemm`` straight from the rows of X (no copy of them); return it."""
        np.matmul(self.X[sl], V[: self.n_features], out=out)
        if self.fit_intercept:
            out += V[-1]
        return out

    def row_dots(self, sl: slice, B: np.ndarray) -> np.ndarray:
        """Σ_j X̃_ij B_ij for each row i of sl (B of shape (rows in sl, n_params)), read from the
        rows of X in place; in a fixed order (no BLAS reduction)."""
        d = self.n_features
        out = np.einsum("ij,ij->i", self.X[sl], B[:, :d])
        if self.fit_intercept:
            out += B[:, d]
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

    @property
    def single_fused_slice(self) -> bool:
        """All rows fit the one chunk of :meth:`fused_slices`."""
        return self.n_samples <= self._fused_rows

    @property
    def _fused_rows(self) -> int:
        return int(min(CHUNK_ROWS, max(64, FUSED_BYTES // (8 * max(self.n_features, 1)))))

    def fused_slices(self):
        """Row slices of about FUSED_BYTES of X each (fixed by n and p alone), in order."""
        return _slices(self.n_samples, self._fused_rows)

    def value_and_gradient(self, theta: np.ndarray, row_terms, curvature=None):
        """(Σ v, X̃ᵀr, η) in one sweep over X, for ``(v, r) = row_terms(sl, η[sl])`` (v a
        chunk's float sum, r its rows' gradient scales).

        Each chunk's rows are read once for η = X̃θ and, still in cache, once more for X̃ᵀr:
        about one pass over X instead of two.  Chunks are summed in order (reproducible).
        Returns the float Σ v, the gradient part of shape (n_params,) and η (n_samples,).
        With ``curvature`` (``w = curvature(sl, η[sl])``, w ≥ 0), also the diagonal of
        X̃ᵀ diag(w) X̃ (n_params,) from the same chunks (:meth:`sq_rmatvec` without its own
        pass over X).  At β = 0 (a cold start) η is the intercept alone: X is read only for X̃ᵀr.
        """
        d, p = self.n_features, self.n_params
        beta = np.ascontiguousarray(theta[:d])
        b = float(theta[-1]) if self.fit_intercept else 0.0
        X, eta, zero = self.X, np.empty(self.n_samples), not beta.any()
        size = p + 1 if curvature is None else 2 * p + 1
        squares = threading.local()  # each chunk worker's buffer for X[sl] ∘ X[sl]

        def part(sl):
            Xc, e = X[sl], eta[sl]
            if zero:  # X β = 0 exactly (X is finite)
                e.fill(b)
            else:
                np.matmul(Xc, beta, out=e)
                if b:
                    e += b
            v, r = row_terms(sl, e)
            out = np.empty(size)
            np.matmul(r, Xc, out=out[:d])
            if self.fit_intercept:
                out[d] = r.sum()
            out[p] = v
            if curvature is not None:
                w = curvature(sl, e)
                sq = np.multiply(Xc, Xc, out=_buffer(squares, Xc.shape))
                np.matmul(w, sq, out=out[p + 1 : p + 1 + d])
                if self.fit_intercept:
                    out[-1] = w.sum()
            return out

        total = sum_chunks(part, self.fused_slices(), np.zeros(size))
        if curvature is None:
            return float(total[p]), total[:p], eta
        return float(total[p]), total[:p], eta, total[p + 1 :]

    def sq_rmatvec(self, w: np.ndarray) -> np.ndarray:
        """(X̃ ∘ X̃)ᵀ w: the diagonal of X̃ᵀ diag(w) X̃, shape (n_params,).

        In chunks of about SQUARE_BYTES of X, squared into one reused buffer that stays in
        cache (0.6× the time of 4096-row temporaries at p = 500, one thread).
        """
        out = np.zeros(self.n_params)
        rows = int(min(CHUNK_ROWS, max(64, SQUARE_BYTES // (8 * max(self.n_features, 1)))))
        buf = np.empty((min(rows, self.n_samples), self.n_features))
        for start in range(0, self.n_samples, rows):
            Xc = self.X[start : start + rows]
            sq = np.multiply(Xc, Xc, out=buf[: Xc.shape[0]])
            out[: self.n_features] += sq.T @ w[start : start + rows]
        if self.fit_intercept:
            out[-1] = w.sum()
        return out

    def weighted_gram(self, w: np.ndarray) -> np.ndarray:
        """X̃ᵀ diag(w) X̃, shape (n_params, n_params), accumulated over row chunks.

        w ≥ 0 always (curvatures times sample weights): each chunk S = W^{1/2} X̃ (intercept
        column included) contributes SᵀS, which NumPy computes by a symmetric rank-k update
        (``syrk``: half the flops of a general product, ≈ one ``X.T @ X`` in all).  Chunks are
        added in order (the same bits on any number of threads; see leaveout._threads).
        """
        p, d = self.n_params, self.n_features
        sw = np.sqrt(w)
        buffers = threading.local()  # each chunk worker's S, reused (no fresh pages per chunk)

        def part(sl):
            S = _buffer(buffers, (sl.stop - sl.start, p))
            np.multiply(self.X[sl], sw[sl, None], out=S[:, :d])  # one pass: copy and scale
            if self.fit_intercept:
                S[:, d] = sw[sl]
            return S.T @ S

        return sum_chunks(part, self.chunk_slices(), np.zeros((p, p)))

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Dense rows X̃[idx], shape (len(idx), n_params)."""
        out = np.empty((len(idx), self.n_params))
        out[:, : self.n_features] = self.X[idx]
        if self.fit_intercept:
            out[:, -1] = 1.0
        return out

    def rows_into(self, sl: slice, out: np.ndarray) -> np.ndarray:
        """Write the dense rows X̃[sl] into ``out`` (shape (rows in sl, n_params)); return it."""
        out[:, : self.n_features] = self.X[sl]
        if self.fit_intercept:
            out[:, -1] = 1.0
        return out

    def subset(self, keep: np.ndarray) -> "DenseDesign":
        """The design restricted to the rows ``keep`` (an index array)."""
        return carry_kernel(self, DenseDesign(np.ascontiguousarray(self.X[keep]), self.fit_intercept), keep)

    # -- the kernel form (DESIGN.md §5): products in the row space, without the intercept -------
    @property
    def nnz(self) -> int:
        """Stored entries of X (n · p for a dense design)."""
        return self.X.size

    def kernel(self) -> np.ndarray:
        """K = X Xᵀ, shape (n_samples, n_samples), by blocks of rows.

        Only the blocks on and above the diagonal are computed (half the flops), each a
        general product (never one symmetric rank-k update of the whole X, the kind of call
        that has crashed multi-threaded OpenBLAS on wide matrices); the rest is mirrored.
        """
        n = self.n_samples
        K = np.empty((n, n))
        for start in range(0, n, KERNEL_BLOCK):
            stop = min(n, start + KERNEL_BLOCK)
            K[start:stop, start:] = self.X[start:stop] @ self.X[start:].T
            K[stop:, start:stop] = K[start:stop, stop:].T
        return K

    def kernel_columns(self, idx: np.ndarray) -> np.ndarray:
        """K[:, idx] = X X[idx]ᵀ, shape (n_samples, len(idx))."""
        return self.X @ self.X[idx].T

    def feature_matmat(self, C: np.ndarray) -> np.ndarray:
        """Xᵀ C (no intercept row) for C of shape (n_samples, m); result (n_features, m)."""
        return self.X.T @ C

    def data_matmat(self, V) -> np.ndarray:
        """X V (no intercept) for V of shape (n_features, m), dense or sparse; result dense (n, m)."""
        out = self.X @ V
        return np.asarray(out.toarray() if hasattr(out, "toarray") else out)

    def state_arrays(self) -> tuple:
        """Arrays that identify the data (for checkpoint fingerprints)."""
        return (self.X,)


