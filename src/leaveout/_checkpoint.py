"""Finished exact refits kept on disk, so that a long retraining sweep survives interruption.

One ``.npy`` file per removal set, written atomically (``_atomic``: temporary file, fsync,
``os.replace``; leftovers of a killed writer are swept when the store is opened),
under a directory named by a fingerprint of the problem (data, weights, family, penalty, θ̂).  The
file name is a hash of the set's sorted rows, so a rerun — even with the sets in another order —
reuses every finished refit and never one from other data.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np

from ._atomic import atomic_write_bytes, remove_orphans

logger = logging.getLogger(__name__)


class RefitStore:
    """θ̂₋T of finished refits for one fitted problem.

    Parameters
    ----------
    directory : path-like
        Where to keep the checkpoints (created if missing).
    arrays : sequence of ndarray
        Everything the refits depend on (X, y, weights, θ̂).
    tag : str
        The scalars they depend on (family, penalty, intercept).
    """

    def __init__(self, directory, arrays, tag: str):
        if isinstance(directory, bool) or not isinstance(directory, (str, os.PathLike)) \
                or str(directory) == "":
            raise TypeError(f"checkpoint must be a directory path (str or pathlib.Path); got "
                            f"{directory!r}.")
        h = hashlib.sha256(tag.encode())
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        self.dir = Path(directory) / h.hexdigest()[:20]
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"Cannot use checkpoint directory {directory!r}: {exc}.") from None
        remove_orphans(self.dir, recursive=False)  # half-written files of a killed sweep

    def _path(self, T: np.ndarray) -> Path:
        key = hashlib.sha256(np.sort(T).astype(np.int64).tobytes()).hexdigest()[:20]
        return self.dir / f"{key}.npy"

    def get(self, T: np.ndarray, n_params: int) -> np.ndarray | None:
        """The saved θ̂₋T, or None if missing — or unreadable, which is logged and then refitted
        (only finite vectors of the right length are ever written)."""
        path = self._path(T)
        if not path.exists():
            return None
        try:
            theta = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            logger.warning("checkpoint %s is unreadable (%s); refitting that set.", path, exc)
            return None
        if theta.dtype != np.float64 or theta.shape != (n_params,) or \
                not np.all(np.isfinite(theta)):
            logger.warning("checkpoint %s holds %s %s, not %d finite floats; refitting that set.",
                           path, theta.dtype, theta.shape, n_params)
            return None
        return theta

    def put(self, T: np.ndarray, theta: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, theta)
        path = self._path(T)
        try:
            atomic_write_bytes(path, buf.getvalue())
        except OSError as exc:
            raise ValueError(f"Cannot write the checkpoint {path}: {exc}. Pass a writable "
                             f"checkpoint directory.") from None
