"""The types of the dataset registry: a loaded :class:`Dataset` and its :class:`DatasetSpec`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

FAMILIES = ("logistic", "squared", "poisson")


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
