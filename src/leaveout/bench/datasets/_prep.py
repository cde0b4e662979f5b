"""What every loader shares: the optional source package, the split, the quick subsample,
preprocessing (standardising, one-hot coding, labels) and assembling the :class:`Dataset`."""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._dataset import Dataset, DatasetSpec

#: Largest number of training / test rows that ``load(..., quick=True)`` returns.
QUICK_N_TRAIN = 400
QUICK_N_TEST = 200

#: A categorical level, or a binary indicator column, seen fewer times than this in the training
#: rows is merged into the reference level / dropped.
_MIN_COUNT = 10

_INSTALL_HINT = 'pip install "leaveout[bench]"'


def _require(module: str, dist: str, dataset: str) -> Any:
    """Import ``module`` or raise an ImportError that says what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = ""
        if dist == "ISLP":
            extra = " (use --no-deps: ISLP's declared dependencies would replace pandas/scipy)"
        raise ImportError(
            f"dataset {dataset!r} needs the optional package {dist!r}: "
            f'install the benchmark extra with {_INSTALL_HINT}, or the package alone with '
            f"pip install {dist}{extra}"
        ) from exc


def _split(
    n: int, seed: int, test_fraction: float = 0.2, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and test row indices; stratified by ``stratify`` when given."""
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        n_test = int(math.ceil(test_fraction * n))
        return np.sort(perm[n_test:]), np.sort(perm[:n_test])
    tr, te = [], []
    for cls in np.unique(stratify):
        idx = np.flatnonzero(stratify == cls)
        idx = idx[rng.permutation(idx.size)]
        k = int(round(test_fraction * idx.size))
        te.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(te))


def _take(idx: np.ndarray, m: int, seed: int, labels: np.ndarray | None) -> np.ndarray:
    """At most ``m`` of the indices ``idx`` (sorted), stratified by ``labels[idx]`` if given."""
    if idx.size <= m:
        return idx
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(idx, size=m, replace=False))
    lab = labels[idx]
    classes, counts = np.unique(lab, return_counts=True)
    # proportional allocation, at least one row per class, total exactly m
    quota = np.maximum(1, np.floor(counts * m / idx.size).astype(int))
    order = np.argsort(-(counts * m / idx.size - quota))
    j = 0
    while quota.sum() < m:
        c = order[j % classes.size]
        if quota[c] < counts[c]:
            quota[c] += 1
        j += 1
    while quota.sum() > m:
        quota[np.argmax(quota)] -= 1
    out = [rng.choice(idx[lab == c], size=q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(out))


def _quick_indices(
    tr: np.ndarray, te: np.ndarray, quick: bool, seed: int, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if not quick:
        return tr, te
    return (
        _take(tr, QUICK_N_TRAIN, seed + 1, labels),
        _take(te, QUICK_N_TEST, seed + 2, labels),
    )


def _standardise(
    X: np.ndarray, X_test: np.ndarray, names: list[str] | None
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Centre and scale with training statistics; drop columns constant on the training rows."""
    X = np.asarray(X, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    scale = np.maximum(np.abs(mu), 1.0)
    keep = sd > 1e-12 * scale
    X = (X[:, keep] - mu[keep]) / sd[keep]
    X_test = (X_test[:, keep] - mu[keep]) / sd[keep]
    if names is not None:
        names = [nm for nm, k in zip(names, keep) if k]
    return np.ascontiguousarray(X), np.ascontiguousarray(X_test), names


def _one_hot(
    train: np.ndarray, test: np.ndarray, prefix: str, min_count: int = _MIN_COUNT
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reference-coded indicators: one column per level seen >= min_count times in ``train``,
    except the most frequent level (the reference, which also absorbs rare and unseen levels)."""
    train = np.asarray(train).astype(str)
    test = np.asarray(test).astype(str)
    levels, counts = np.unique(train, return_counts=True)
    # most frequent first; ties broken by the level's name, so the coding is deterministic
    order = sorted(range(levels.size), key=lambda i: (-counts[i], levels[i]))
    kept = [levels[i] for i in order[1:] if counts[i] >= min_count]
    kept.sort()
    A = np.zeros((train.size, len(kept)))
    B = np.zeros((test.size, len(kept)))
    for j, lv in enumerate(kept):
        A[:, j] = train == lv
        B[:, j] = test == lv
    return A, B, [f"{prefix}={lv}" for lv in kept]


def _as_labels(values: Any, positive: str) -> np.ndarray:
    v = np.asarray(values).astype(str)
    if positive not in set(v.tolist()):
        raise ValueError(f"positive class {positive!r} not among the labels")
    return (v == positive).astype(np.float64)


def _finish(
    spec: DatasetSpec,
    X: Any,
    y: np.ndarray,
    X_test: Any,
    y_test: np.ndarray,
    how: str,
    names: list[str] | None,
    quick: bool,
) -> Dataset:
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        X_test = sp.csr_matrix(X_test, dtype=np.float64)
        X.sort_indices()
        X_test.sort_indices()
    n, p = X.shape
    q = " [quick subsample]" if quick else ""
    desc = f"{how}; n={n}, n_test={X_test.shape[0]}, p={p}, {spec.family}, l2={spec.l2:g}{q}"
    return Dataset(
        name=spec.name,
        X=X,
        y=np.ascontiguousarray(y, dtype=np.float64),
        X_test=X_test,
        y_test=np.ascontiguousarray(y_test, dtype=np.float64),
        family=spec.family,
        l2=float(spec.l2),
        fit_intercept=spec.fit_intercept,
        description=desc,
        feature_names=tuple(names) if names is not None else None,
    )


def _dense_from_split(
    spec: DatasetSpec,
    X: np.ndarray,
    y: np.ndarray,
    names: list[str] | None,
    how: str,
    *,
    quick: bool,
    seed: int,
    stratify: bool = True,
    standardise: bool = True,
) -> Dataset:
    """80/20 split (stratified for binary y), optional quick subsample, standardisation."""
    labels = y if stratify else None
    tr, te = _split(X.shape[0], seed, stratify=labels)
    tr, te = _quick_indices(tr, te, quick, seed, labels)
    Xtr, Xte = X[tr], X[te]
    if standardise:
        Xtr, Xte, names = _standardise(Xtr, Xte, names)
    return _finish(spec, Xtr, y[tr], Xte, y[te], how, names, quick)
