"""Synthetic GLM datasets with an isotropic Gaussian design, and the registry's synthetic loader."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .._args import INT_LIMIT, check_bool, check_float, check_int, check_seed
from ._dataset import FAMILIES, Dataset, DatasetSpec

_WHERE = "synthetic_gaussian"

#: Largest magnitude accepted for ``signal``, ``intercept`` and ``noise``. It keeps every
#: generated value (|η| is at most about |intercept| + 10·signal, y about that plus 10·noise) far
#: inside float64, and inside leaveout's bound of 1e150 on the X and y it fits.
MAX_SCALE = 1e100

#: Largest Poisson rate ``exp(η)`` drawn: NumPy's Poisson sampler refuses rates above about
#: 9.2e18 ("lam value too large"); 1e18 (η ≤ 41.4) keeps a margin below that.
MAX_POISSON_RATE = 1e18


def _physical_memory() -> int | None:
    """Bytes of physical memory of this machine, or None where the OS does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the names are unknown
        return None
    return pages * size if pages > 0 and size > 0 else None


def _check_size(n: int, n_test: int, p: int) -> None:
    """Refuse a design that cannot fit in memory before NumPy tries to allocate it."""
    need = (n + n_test) * p * 8  # X and X_test, float64 (the train/test halves are views)
    mem = _physical_memory()
    limit = INT_LIMIT if mem is None else min(mem, INT_LIMIT)
    if need >= limit:
        where = (f"more than this machine's {mem / 1e9:.3g} GB of memory" if mem is not None and
                 need >= mem else "more than NumPy can allocate (2**63 bytes)")
        raise ValueError(
            f"synthetic_gaussian(n={n}, p={p}) would need {need / 1e9:.3g} GB for its design "
            f"((n + n_test)·p = {(n + n_test) * p:.3g} float64 values, n_test={n_test}), "
            f"{where}. Lower n or p."
        )


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

    Parameters
    ----------
    n, p : int
        Training rows and features, each an int >= 1 (not a bool).
    family : {"logistic", "squared", "poisson"}, default="logistic"
    l2 : float, default=1.0
        Ridge penalty stored on the dataset (sum convention), finite and >= 0.
    seed : int, default=0
        Seed of ``np.random.default_rng``, an int in [0, 2**63).
    n_test : int, optional
        Test rows drawn from the same model, an int >= 1; default ``max(50, n // 4)``.
    signal : float, default=1.0
        Standard deviation of the true linear predictor x·β, in [0, 1e100].
    intercept : float, optional
        True intercept ``b``, in [-1e100, 1e100]; default 0 (logistic, squared), 1 (poisson).
    noise : float, default=1.0
        Standard deviation of the squared family's noise, in [0, 1e100] (unused otherwise).
    fit_intercept : bool, default=True
    name : str, optional

    Returns
    -------
    Dataset
        ``X`` of shape (n, p), ``y`` of shape (n,), ``X_test`` of shape (n_test, p) and
        ``y_test`` of shape (n_test,).

    Raises
    ------
    TypeError, ValueError
        For an argument of the wrong type or out of range; ValueError also when the design would
        not fit in this machine's memory, and (poisson) when a drawn rate exp(b + x·β) would exceed
        ``MAX_POISSON_RATE`` = 1e18, i.e. some η > 41.4 (the largest η over m rows is about
        b + signal·sqrt(2·ln m)): lower ``intercept`` or ``signal``. The logistic family takes any
        legal ``signal`` and ``intercept``: probabilities saturate at 0 and 1.
    """
    if not isinstance(family, str):
        raise TypeError(f"The 'family' parameter of {_WHERE} must be a str, one of {FAMILIES}. "
                        f"Got {family!r} ({type(family).__name__}) instead.")
    if family not in FAMILIES:
        raise ValueError(f"The 'family' parameter of {_WHERE} must be one of {FAMILIES}. "
                         f"Got {family!r} instead.")
    n = check_int(n, "n", _WHERE)
    p = check_int(p, "p", _WHERE)
    l2 = check_float(l2, "l2", _WHERE, low=0.0)
    seed = check_seed(seed, _WHERE)
    n_test = max(50, n // 4) if n_test is None else check_int(n_test, "n_test", _WHERE)
    signal = check_float(signal, "signal", _WHERE, low=0.0, high=MAX_SCALE)
    if intercept is None:
        intercept = 1.0 if family == "poisson" else 0.0
    intercept = check_float(intercept, "intercept", _WHERE, low=-MAX_SCALE, high=MAX_SCALE)
    noise = check_float(noise, "noise", _WHERE, low=0.0, high=MAX_SCALE)
    fit_intercept = check_bool(fit_intercept, "fit_intercept", _WHERE)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"The 'name' parameter of {_WHERE} must be None or a str. "
                        f"Got {name!r} ({type(name).__name__}) instead.")
    _check_size(n, n_test, p)

    rng = np.random.default_rng(seed)
    try:
        X_all = rng.standard_normal((n + n_test, p)) / math.sqrt(p)
    except MemoryError as exc:  # fits in this machine's memory, but not in what is free now
        raise MemoryError(
            f"synthetic_gaussian(n={n}, p={p}) could not allocate its design of "
            f"{(n + n_test) * p * 8 / 1e9:.3g} GB ((n + n_test)·p float64 values, "
            f"n_test={n_test}). Lower n or p, or free memory."
        ) from exc
    b = rng.standard_normal(p)
    beta = b * (signal * math.sqrt(p) / max(np.linalg.norm(b), 1e-300))
    eta = intercept + X_all @ beta
    if family == "logistic":
        # exp(-η) overflows to inf for η < -709: 1 / (1 + inf) = 0 is the exact limit
        with np.errstate(over="ignore", under="ignore"):
            prob = 1.0 / (1.0 + np.exp(-eta))
        y_all = (rng.random(n + n_test) < prob).astype(np.float64)
    elif family == "squared":
        y_all = eta + noise * rng.standard_normal(n + n_test)
    else:
        top = float(eta.max())
        if top > math.log(MAX_POISSON_RATE):
            raise ValueError(
                f"{_WHERE}(family='poisson'): the largest drawn rate exp(intercept + x·β) is "
                f"exp({top:.4g}), above MAX_POISSON_RATE = 1e18 (η <= "
                f"{math.log(MAX_POISSON_RATE):.3g}), beyond what NumPy's Poisson sampler draws. "
                f"Lower intercept (now {intercept:g}) or signal (now {signal:g}): over m rows "
                "the largest η is about intercept + signal·sqrt(2·ln m)."
            )
        with np.errstate(under="ignore"):
            rate = np.exp(eta)
        y_all = rng.poisson(rate).astype(np.float64)
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
