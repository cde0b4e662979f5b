"""Dask designs: X, y and sample weights as Dask arrays chunked by rows (DESIGN.md §8).

Nothing here imports Dask at ``import leaveout``: :func:`is_dask` only looks at objects the caller
already made with Dask, and the modules that need Dask (``design``, ``loss``, ``state``,
``compute``, ``api``) are imported by the public entry points when a Dask input arrives.
"""

from __future__ import annotations

import sys


def is_dask(obj) -> bool:
    """Whether ``obj`` is a Dask collection (array, DataFrame, Series), without importing Dask."""
    if obj is None or "dask" not in sys.modules:
        return False  # no Dask collection can exist before Dask is imported
    from dask.base import is_dask_collection

    return bool(is_dask_collection(obj))


def any_dask(*objs) -> bool:
    return any(is_dask(o) for o in objs)


def require_dask(what: str = "Dask inputs"):
    """Import ``dask.array``, or explain how to install it."""
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover - only without the extra
        raise ImportError(
            f"{what} need Dask: pip install \"leaveout[dask]\" (dask[array] and distributed)."
        ) from None
    return da
