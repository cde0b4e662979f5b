"""Loaders of the datasets shipped with scikit-learn: breast_cancer and digits_3v8."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._dataset import Dataset, DatasetSpec
from ._prep import _dense_from_split


def _load_breast_cancer(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    y = (d.target == 1).astype(np.float64)  # 1 = benign
    how = "sklearn load_breast_cancer (WDBC), y=1 benign, 80/20 stratified split, standardised"
    return _dense_from_split(spec, d.data, y, list(d.feature_names), how, quick=quick, seed=seed)


def _load_digits_pair(
    spec: DatasetSpec, *, quick: bool, seed: int, cache: Path, a: int, b: int
) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    rows = np.flatnonzero((d.target == a) | (d.target == b))
    X = d.data[rows].astype(np.float64)
    y = (d.target[rows] == b).astype(np.float64)
    names = [f"px{i}" for i in range(X.shape[1])]
    how = (f"sklearn load_digits 8x8, digits {a} vs {b} (y=1 for {b}), 80/20 stratified split, "
           "standardised, constant pixels dropped")
    return _dense_from_split(spec, X, y, names, how, quick=quick, seed=seed)
