"""Finished exact refits kept on disk, so that a long retraining sweep survives interruption.

One ``.npy`` file per removal set, written atomically (temporary file, fsync, ``os.replace``),
under a directory named by a fingerprint of the problem (data, weights, family, penalty, θ̂).  The
file name is a hash of the set's sorted rows, so a rerun — even with the sets in another order —
reuses every finished refit and never one from other data.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np


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
        h = hashlib.sha256(tag.encode())
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        self.dir = Path(directory) / h.hexdigest()[:20]
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"Cannot use checkpoint directory {directory!r}: {exc}.") from None

    def _path(self, T: np.ndarray) -> Path:
        key = hashlib.sha256(np.sort(T).astype(np.int64).tobytes()).hexdigest()[:20]
        return self.dir / f"{key}.npy"

    def get(self, T: np.ndarray) -> np.ndarray | None:
        path = self._path(T)
        return np.load(path) if path.exists() else None

    def put(self, T: np.ndarray, theta: np.ndarray) -> None:
        path = self._path(T)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, theta)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
