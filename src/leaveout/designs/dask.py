"""The Dask design: X̃ = [X, 1] as a Dask array chunked by rows, behind the design seam.

Imported only when a Dask input arrives (``leaveout._dask``), never by ``import leaveout``.

Each block of rows is an ordinary dense design on a worker (:class:`~leaveout._design.DenseDesign`
of that block); this module turns per-block work into lazy Dask arrays (outputs of length n,
chunked like X) or into p-sized results summed over the blocks in a fixed order
(:func:`~leaveout._dask.compute.tree_sum`), so a Dask design gives the NumPy design's numbers to
rounding whatever the number of workers.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from .._dask.compute import compute, compute_sum
from .dense import DenseDesign


#: Blocks are copied to addresses that are multiples of this many bytes before any arithmetic.
ALIGN = 64


def aligned(a) -> np.ndarray:
    """``a`` as a C-contiguous float64 array whose data start on an :data:`ALIGN` boundary.

    Blocks arrive from the network at arbitrary addresses (not even multiples of 8 bytes), and
    the SIMD kernels of BLAS and NumPy round differently with the address of their data; a
    fixed alignment makes every block's result the same bits on any worker, in any run.
    """
    a = np.asarray(a)
    if a.dtype == np.float64 and a.flags.c_contiguous and a.ctypes.data % ALIGN == 0:
        return a
    buf = np.empty(a.size + ALIGN // 8, dtype=np.float64)
    start = (-buf.ctypes.data % ALIGN) // 8
    out = buf[start:start + a.size].reshape(a.shape)
    out[...] = a
    return out


def _dense(xb: np.ndarray, fit_intercept: bool) -> DenseDesign:
    return DenseDesign(aligned(xb), fit_intercept)


class DaskDesign:
    """A design whose rows live in the blocks of a Dask array.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features), float64
        Chunked by rows only (one chunk along the features), chunk sizes known.
    fit_intercept : bool

    Attributes
    ----------
    row_chunks : tuple of int
        Rows per block; y, weights and every output of length n share them.
    offsets : ndarray of shape (n_blocks + 1,)
        First row of each block, then n_samples.
    """

    def __init__(self, X, fit_intercept: bool):
        self.X = X
        self.fit_intercept = fit_intercept
        self.n_samples, self.n_features = (int(s) for s in X.shape)
        self.n_params = self.n_features + int(fit_intercept)
        self.row_chunks = tuple(int(c) for c in X.chunks[0])
        self.offsets = np.concatenate([[0], np.cumsum(self.row_chunks)]).astype(np.int64)
        self._blocks = list(X.to_delayed().ravel())
        self._delayed_cache: dict[str, list] = {}

    @property
    def n_blocks(self) -> int:
        return len(self.row_chunks)

    @property
    def nnz(self) -> int:
        """Stored entries of X (dense blocks: n × n_features)."""
        return self.n_samples * self.n_features

    def penalty_mask(self) -> np.ndarray:
        """P's diagonal: 1 for a penalised coefficient, 0 for the intercept. Shape (n_params,)."""
        mask = np.ones(self.n_params)
        if self.fit_intercept:
            mask[-1] = 0.0
        return mask

    # -- per-block work -------------------------------------------------------------------------
    def blocks(self, *arrays):
        """Per block k: (X block, then block k of each 1-D Dask array in ``arrays``), delayed."""
        cols = [self._delayed(a) for a in arrays]
        return [(xb, *(c[k] for c in cols)) for k, xb in enumerate(self._blocks)]

    def _delayed(self, a) -> list:
        # ``to_delayed`` optimises the array's graph: once per array, not once per pass.
        if a.name not in self._delayed_cache:
            self._delayed_cache[a.name] = list(a.to_delayed().ravel())
        return self._delayed_cache[a.name]

    def map_rows(self, func, *arrays, n_cols: int | None, args=(), dtype=np.float64):
        """A lazy Dask array of ``func(X block, *blocks of arrays, offset, *args)`` per block.

        ``func`` returns an array of shape (block rows,) when ``n_cols`` is None, else
        (block rows, n_cols).  The result is chunked like X's rows.
        """
        parts = []
        for k, blk in enumerate(self.blocks(*arrays)):
            rows = self.row_chunks[k]
            shape = (rows,) if n_cols is None else (rows, n_cols)
            d = dask.delayed(func, pure=True)(*blk, int(self.offsets[k]), *args)
            parts.append(da.from_delayed(d, shape=shape, dtype=dtype))
        return da.concatenate(parts, axis=0)

    def reduce_rows(self, func, *arrays, args=(), what: str):
        """Σ over blocks of ``func(X block, *blocks of arrays, offset, *args)``, computed.

        ``func`` returns a NumPy array (or a tuple of them) of the same shapes for every block;
        the partials are summed in a fixed order, so the result is deterministic.
        """
        parts = [dask.delayed(func, pure=True)(*blk, int(self.offsets[k]), *args)
                 for k, blk in enumerate(self.blocks(*arrays))]
        return compute_sum(parts, what)

    def per_block(self, func, *arrays, args=(), what: str) -> list:
        """``func(X block, *blocks, offset, *args)`` for every block, computed, in block order."""
        parts = [dask.delayed(func, pure=True)(*blk, int(self.offsets[k]), *args)
                 for k, blk in enumerate(self.blocks(*arrays))]
        return list(compute(*parts, what=what, optimize=False))

    # -- the seam of DenseDesign -------------------------------------------------------------
    def matvec(self, theta: np.ndarray):
        """Linear predictor η = X̃ θ, a lazy Dask array of shape (n_samples,)."""
        return self.map_rows(_matvec, n_cols=None, args=(theta, self.fit_intercept))

    def matmat(self, V: np.ndarray):
        """X̃ V for V of shape (n_params, m); a lazy Dask array (n_samples, m)."""
        return self.map_rows(_matmat, n_cols=V.shape[1], args=(V, self.fit_intercept))

    def rmatvec(self, v) -> np.ndarray:
        """X̃ᵀ v for a Dask array v of shape (n_samples,) chunked like X; NumPy (n_params,)."""
        return self.reduce_rows(_rmatvec, v, args=(self.fit_intercept,), what="X̃ᵀv")

    def weighted_gram(self, w) -> np.ndarray:
        """X̃ᵀ diag(w) X̃ for a Dask array w (n_samples,); NumPy (n_params, n_params)."""
        return self.reduce_rows(_gram, w, args=(self.fit_intercept,), what="X̃ᵀWX̃")

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """Dense rows X̃[idx] (NumPy, shape (len(idx), n_params)); only their blocks are read."""
        (Xr,) = compute(self.X[np.asarray(idx, dtype=np.intp)], what="gathering rows")
        return _dense(Xr, self.fit_intercept).rows(np.arange(len(idx)))


def gather(idx: np.ndarray, *arrays) -> tuple:
    """Rows ``idx`` of several Dask arrays in one computation (only their blocks are read)."""
    idx = np.asarray(idx, dtype=np.intp)
    return compute(*(a[idx] for a in arrays), what="gathering rows")


def _matvec(xb, off, theta, fi):
    return _dense(xb, fi).matvec(theta)


def _matmat(xb, off, V, fi):
    return _dense(xb, fi).matmat(V)


def _rmatvec(xb, vb, off, fi):
    return _dense(xb, fi).rmatvec(aligned(vb))


def _gram(xb, wb, off, fi):
    return _dense(xb, fi).weighted_gram(aligned(wb))
