"""Design backends: the data X̃ = [X, 1] behind one interface (see :mod:`._base` for the methods).

- :class:`DenseDesign` — a C-contiguous float64 NumPy array;
- :class:`SparseDesign` — a canonical float64 ``scipy.sparse`` CSR matrix, never densified;
- ``designs.dask.DaskDesign`` — the row blocks of a Dask array, each a :class:`DenseDesign` on a
  worker (imported only for Dask inputs, by ``leaveout._dask``; never by ``import leaveout``).

:func:`make_design` is the one place that chooses; a new backend (e.g. Dask) adds a module here
and a branch there.
"""

from __future__ import annotations

import scipy.sparse as sp

from ._base import CHUNK_ROWS, chunk_rows
from .dense import DenseDesign
from .sparse import SparseDesign


def make_design(X, fit_intercept: bool):
    """The design for a validated ``X`` (``_validation.check_X``'s output)."""
    if sp.issparse(X):
        return SparseDesign(X, fit_intercept)
    return DenseDesign(X, fit_intercept)


__all__ = ["CHUNK_ROWS", "DenseDesign", "SparseDesign", "chunk_rows", "make_design"]
