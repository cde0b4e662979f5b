"""Dask designs on a real ``dask.distributed.LocalCluster`` with worker processes.

Reference: the in-memory NumPy path on the same data (which the other test modules check
against exact retraining, statsmodels and closed forms). Dask must equal it to 1e-10 relative
on every output; the same graph must give the same bits on 1 or 4 workers, and when a worker
is killed in the middle of a computation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import leaveout
from leaveout import targets
from conftest import make_data

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

N, P, CHUNK = 300, 6, 70          # 5 blocks, the last one short
SETS = [[1, 5, 7], [100, 200, 299], []]
TOL = 1e-10


def _cluster(n_workers):
    return distributed.LocalCluster(processes=True, n_workers=n_workers, threads_per_worker=1,
                                    dashboard_address=":0", silence_logs=40)


@pytest.fixture(scope="module")
def client():
    cluster = _cluster(2)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def _data(family, seed=1):
    X, y = make_data(family, n=N, p=P, seed=seed)
    w = np.random.default_rng(seed).uniform(0.5, 2.0, N)
    return X, y, w


def _dask(*arrays):
    return tuple(da.from_array(a, chunks=(CHUNK,) + a.shape[1:]) for a in arrays)


def _lazy(arr, cols):
    """A lazy Dask output chunked like X's rows."""
    assert isinstance(arr, da.Array), type(arr)
    assert arr.chunks[0] == (CHUNK,) * 4 + (N - 4 * CHUNK,)
    if cols is not None:
        assert arr.chunks[1] == (cols,)
    return arr.compute()


@pytest.mark.parametrize("family, fit_intercept", [
    ("logistic", True), ("squared", True), ("poisson", True), ("logistic", False)])
def test_every_output_equals_numpy(client, family, fit_intercept):
    X, y, w = _data(family)
    Xd, yd, wd = _dask(X, y, w)
    kw = dict(family=family, l2=0.5, fit_intercept=fit_intercept)
    ref = leaveout.fit(X, y, sample_weight=w, **kw)
    got = leaveout.fit(Xd, yd, sample_weight=wd, **kw)
    assert got.n_iter_ == ref.n_iter_
    assert rel(got.params_, ref.params_) < 1e-12
    assert rel(got.objective_, ref.objective_) < 1e-13
    att = leaveout.Attributor(ref, X, y, w)
    datt = leaveout.Attributor(got, Xd, yd, wd)
    p = att.n_params
    assert rel(_lazy(datt.leverage, None), att.leverage) < TOL
    for method in ("if", "rif", "newton"):
        assert rel(_lazy(datt.effects(method), p), att.effects(method)) < TOL, method
        sets = datt.effects(method, remove=SETS)
        assert isinstance(sets, np.ndarray) and sets.shape == (3, p)
        assert rel(sets, att.effects(method, remove=SETS)) < TOL, method
    assert rel(datt.effects("retrain", remove=SETS[1:]),
               att.effects("retrain", remove=SETS[1:])) < 1e-8
    total = targets.loss(X[:7], y[:7], reduce="sum")
    probs = targets.prediction(X[:4])
    assert rel(_lazy(datt.effects("rif", target=total), None), att.effects("rif", target=total)) < TOL
    assert rel(_lazy(datt.effects("if", target=probs), 4), att.effects("if", target=probs)) < TOL
    for lin in (True, False):
        assert rel(_lazy(datt.effects("newton", target=probs, linearize=lin), 4),
                   att.effects("newton", target=probs, linearize=lin)) < TOL
        assert rel(datt.effects("rif", remove=SETS, target=total, linearize=lin),
                   att.effects("rif", remove=SETS, target=total, linearize=lin)) < TOL
    assert rel([datt.set_leverage(T) for T in SETS], [att.set_leverage(T) for T in SETS]) < TOL
    assert rel(datt.effects("retrain", remove=SETS[0], target=total),
               att.effects("retrain", remove=SETS[0], target=total)) < 1e-8


def test_predictions_are_lazy_and_equal(client):
    X, y, w = _data("poisson")
    (Xd,) = _dask(X)
    model = leaveout.fit(X, y, family="poisson")
    assert rel(_lazy(model.predict(Xd), None), model.predict(X)) < 1e-14
    assert rel(_lazy(model.decision_function(Xd), None), model.decision_function(X)) < 1e-14


def test_adopted_scikit_learn_classifier_with_its_own_labels(client):
    lm = pytest.importorskip("sklearn.linear_model")
    X, y, w = _data("logistic")
    labels = np.where(y == 1, 3, -3)  # classes_ = [-3, 3]: the adapter maps them block by block
    clf = lm.LogisticRegression(C=2.0, tol=1e-10, max_iter=1000).fit(X, labels, sample_weight=w)
    Xd, ld, wd = _dask(X, labels, w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", leaveout.PolishWarning)
        att = leaveout.Attributor(clf, X, labels, w)
        datt = leaveout.Attributor(clf, Xd, ld, wd)
    assert rel(datt.params_, att.params_) < 1e-12
    assert rel(_lazy(datt.effects("rif"), P + 1), att.effects("rif")) < TOL


def _all_outputs(X, y):
    att = leaveout.Attributor(leaveout.fit(X, y, l2=0.5), X, y)
    return (att.params_, att.leverage.compute(), att.effects("rif").compute(),
            att.effects("newton", remove=SETS), att.effects("retrain", remove=SETS))


def _scale(client, n_workers):
    client.cluster.scale(n_workers)
    deadline = time.monotonic() + 120
    while len(client.scheduler_info()["workers"]) != n_workers:
        assert time.monotonic() < deadline, "the cluster did not scale"
        time.sleep(0.05)


def test_same_bits_on_one_and_four_workers(client):
    X, y, _ = _data("logistic", seed=3)
    Xd, yd = _dask(X, y)
    two = _all_outputs(Xd, yd)
    try:
        for n_workers in (4, 1):
            _scale(client, n_workers)
            again = _all_outputs(Xd, yd)
            for a, b in zip(two, again):
                np.testing.assert_array_equal(a, b)
    finally:
        _scale(client, 2)
    assert rel(two[2], leaveout.Attributor(leaveout.fit(X, y, l2=0.5), X, y).effects("rif")) < TOL


def _slow(block, delay):
    time.sleep(delay)
    return block


def _exit_after(delay):
    def die():
        time.sleep(delay)
        os._exit(1)

    threading.Thread(target=die, daemon=True).start()


def test_worker_killed_mid_computation_gives_the_same_answer(client):
    X, y, _ = _data("logistic", seed=4)
    Xd, yd = _dask(X, y)
    reference = _all_outputs(Xd, yd)
    slow = Xd.map_blocks(_slow, 0.04, dtype=float)  # a pass takes >= 0.12 s on 2 workers
    victim = sorted(client.scheduler_info()["workers"])[0]
    client.run(_exit_after, 0.6, workers=[victim])
    t0 = time.monotonic()
    again = _all_outputs(slow, yd)
    # The worker died while the computation ran (its nanny starts a new one, at a new address).
    assert time.monotonic() - t0 > 0.6
    assert victim not in client.scheduler_info()["workers"]
    for a, b in zip(reference, again):
        np.testing.assert_array_equal(a, b)


def test_cluster_that_goes_away_is_a_clear_error():
    X, y, _ = _data("logistic")
    Xd, yd = _dask(X, y)
    slow = Xd.map_blocks(_slow, 0.2, dtype=float)
    cluster = _cluster(1)
    with distributed.Client(cluster) as lonely, lonely.as_current(), \
            dask.config.set({"leaveout.lost-cluster-timeout": 2}):
        threading.Timer(1.0, cluster.close).start()
        t0 = time.monotonic()
        with pytest.raises(leaveout.DaskClusterError, match="Dask cluster went away"):
            leaveout.fit(slow, yd)
        assert time.monotonic() - t0 < 60


def test_cluster_without_workers_is_a_clear_error():
    X, y, _ = _data("logistic")
    Xd, yd = _dask(X, y)
    cluster = _cluster(1)
    with distributed.Client(cluster) as lonely, lonely.as_current(), \
            dask.config.set({"leaveout.lost-cluster-timeout": 1}):
        lonely.retire_workers(list(lonely.scheduler_info()["workers"]), close_workers=True)
        cluster.scale(0)
        with pytest.raises(leaveout.DaskClusterError, match="no workers left"):
            leaveout.fit(Xd, yd)
    cluster.close()


def test_computation_longer_than_the_lost_cluster_timeout_finishes(client):
    """Live workers are not taken for a lost cluster however long a pass runs: the client's
    periodic refresh of the scheduler's identity lists no workers individually (distributed ≥
    2025), only their count (a pass of 10⁷ rows was refused after 30 s because of this)."""
    from leaveout._dask import compute

    Xb = da.ones((4, 2), chunks=(2, 2)).map_blocks(_slow, 3.0, dtype=float)
    with client.as_current(), dask.config.set({"leaveout.lost-cluster-timeout": 0.5}):
        time.sleep(2.5)  # at least one periodic identity refresh has happened
        (total,) = compute.compute(Xb.sum(), what="a slow pass")
    assert float(total) == 8.0
    info = dict(client._scheduler_identity)
    assert compute._lost(client) is None
    assert compute._lost(type("C", (), {"status": "running", "_scheduler_identity":
                                        {**info, "n_workers": 0, "workers": {}}})()) \
        == "the cluster has no workers left"


def test_import_leaveout_does_not_import_dask():
    src = Path(leaveout.__file__).resolve().parents[1]
    code = ("import sys, leaveout, leaveout.targets; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'));"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(src)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dask_dataframe_with_a_target_column(client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y, _ = _data("logistic", seed=5)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(P)]).assign(label=y)
    ddf = dd.from_pandas(frame, npartitions=3)
    features = ddf.drop(columns="label")
    model = leaveout.fit(features, ddf["label"], l2=0.5)
    ref = leaveout.fit(frame.drop(columns="label"), y, l2=0.5)
    assert list(model.feature_names_in_) == list(ref.feature_names_in_)
    assert rel(model.params_, ref.params_) < 1e-12
    att = leaveout.Attributor(model, features, ddf["label"])
    ref_att = leaveout.Attributor(ref, frame.drop(columns="label"), y)
    assert rel(att.effects("rif").compute(), ref_att.effects("rif")) < TOL


@pytest.fixture(scope="module")
def logistic_pair(client):
    """(Dask Attributor, NumPy Attributor) of one logistic fit, for the retrain tests."""
    X, y, _ = _data("logistic", seed=5)
    datt = leaveout.Attributor(leaveout.fit(*_dask(X, y), l2=0.5), *_dask(X, y))
    return datt, leaveout.Attributor(leaveout.fit(X, y, l2=0.5), X, y)


def test_retrain_of_many_sets_shares_passes_with_the_serial_answer(logistic_pair, monkeypatch):
    """The refits of many sets share each pass (one per round of their Newton loops): the same
    bits as one fit after another and as fits side by side, and NumPy's answer to 1e-10."""
    from leaveout._dask import refits, state

    datt, att = logistic_pair
    sets = [np.arange(i, i + 3 + i // 6) for i in range(0, 60, 6)] + [[]]
    rounds = []
    real = refits.RetainedStats.__call__
    monkeypatch.setattr(refits.RetainedStats, "__call__",
                        lambda self, b, t: rounds.append(len(b)) or real(self, b, t))
    monkeypatch.setattr(refits, "REFITS_PER_PASS", 4)      # groups of 4, 4 and 2 sets
    shared = datt.effects("retrain", remove=sets)
    assert max(rounds) == 4 and len(rounds) < 0.5 * sum(rounds)  # passes shared by sets
    monkeypatch.setattr(refits, "REFITS_PER_PASS", 1)   # each fit its own passes
    np.testing.assert_array_equal(datt.effects("retrain", remove=sets[7:9]), shared[7:9])
    monkeypatch.setattr(state, "MAX_CONCURRENT_REFITS", 1)
    np.testing.assert_array_equal(datt.effects("retrain", remove=sets[1:3]), shared[1:3])
    assert rel(shared, att.effects("retrain", remove=sets)) < 1e-10


def test_refined_newton_steps_of_sets_equal_numpy_with_one_pass_per_round(client, monkeypatch):
    """steps > 1: the chord refreshes of all sets share one distributed pass per round (the
    retained gradients over all rows), and give the NumPy path's estimates and record."""
    from leaveout._dask import refresh

    X, y, w = _data("logistic", seed=3)
    sets = [np.arange(0, 40), [1, 5, 7], [], [100, 200, 299], np.arange(150, 160)]
    att = leaveout.Attributor(leaveout.fit(X, y, l2=0.5, sample_weight=w), X, y,
                              sample_weight=w)
    Xd, yd, wd = _dask(X, y, w)
    datt = leaveout.Attributor(leaveout.fit(Xd, yd, l2=0.5, sample_weight=wd), Xd, yd,
                               sample_weight=wd)
    passes = []
    real_pass = refresh.RetainedGradients.__call__

    def counted(self, batch, deltas):
        passes.append(list(batch))
        return real_pass(self, batch, deltas)

    monkeypatch.setattr(refresh.RetainedGradients, "__call__", counted)
    for kw in ({"steps": 4, "tol": 0.0}, {"steps": 30, "tol": 1e-8}):
        passes.clear()
        ref = att.effects("newton", remove=sets, **kw)
        got = datt.effects("newton", remove=sets, **kw)
        assert rel(got, ref) < TOL
        for field in ("steps", "converged", "contracting"):
            np.testing.assert_array_equal(getattr(datt.newton_info_, field),
                                          getattr(att.newton_info_, field))
        steps = att.newton_info_.steps
        assert len(passes) == steps.max() - 1          # one pass per round, for all sets
        assert passes[0] == [k for k, T in enumerate(sets) if len(T)]
    # the refined estimate is closer to the exact refit than the Newton step (and than 1e-8)
    exact = att.effects("retrain", remove=sets)
    assert rel(got, exact) < 1e-8 < rel(att.effects("newton", remove=sets), exact)
    # a target's effect goes through the same sets; groups of 2 sets give the same estimates
    t = targets.loss(X[:5], y[:5])
    monkeypatch.setattr(refresh, "SETS_AT_ONCE", 2)
    assert rel(datt.effects("newton", remove=sets, target=t, steps=3),
               att.effects("newton", remove=sets, target=t, steps=3)) < TOL
    with pytest.raises(ValueError, match="remove=None"):
        datt.effects("newton", steps=3)


def test_retrain_checkpoint_keeps_each_finished_refit(logistic_pair, tmp_path, monkeypatch):
    """A checkpoint holds every finished refit; a later call refits only the others."""
    from leaveout._dask import refits

    datt, att = logistic_pair
    sets = [[1, 2, 3], [50, 60], []]
    first = datt.effects("retrain", remove=sets[:1], checkpoint=tmp_path)
    refitted = []
    real = refits.refit_sets
    monkeypatch.setattr(refits, "refit_sets", lambda st, todo, *a: refitted.append(
        [len(T) for T in todo]) or real(st, todo, *a))
    both = datt.effects("retrain", remove=sets, checkpoint=tmp_path)
    assert refitted == [[0, 2, 0]]                      # set 0 came from the checkpoint
    np.testing.assert_array_equal(both[:1], first)
    assert rel(both, att.effects("retrain", remove=sets)) < 1e-10


def test_scalar_target_on_dask_query_rows_equals_numpy(logistic_pair):
    """A test set as a Dask array (reduce='sum'/'mean'): values, set effects (plug-in and first
    order) and first-order per-row effects equal those of the same rows in memory (1e-10)."""
    datt, att = logistic_pair
    Xq, yq = make_data("logistic", n=130, p=P, seed=2)
    Xqd, yqd = (da.from_array(a, chunks=(40,) + a.shape[1:]) for a in (Xq, yq))
    sets = [[1, 5, 7], [100, 200, 299], []]
    for make in (lambda A, b: targets.loss(A, b, reduce="sum"),
                 lambda A, b: targets.prediction(A, reduce="mean")):
        on_dask, in_memory = make(Xqd, yqd), make(Xq, yq)
        assert rel(datt.evaluate(on_dask), att.evaluate(in_memory)) < TOL
        assert rel(att.evaluate(on_dask), att.evaluate(in_memory)) < TOL  # NumPy training data
        assert rel(datt.effects("newton", remove=sets, target=on_dask),
                   att.effects("newton", remove=sets, target=in_memory)) < TOL
        assert rel(datt.effects("rif", remove=sets, target=on_dask, linearize=True),
                   att.effects("rif", remove=sets, target=in_memory, linearize=True)) < TOL
    assert rel(_lazy(datt.effects("rif", target=on_dask, linearize=True), None),
               att.effects("rif", target=in_memory, linearize=True)) < TOL


def test_lockstep_stops_every_set_when_a_round_fails():
    """A failed pass reaches the caller, and no set's thread is left waiting for a round."""
    from leaveout._dask.lockstep import Lockstep, run_group

    def answer(batch, requests):
        if max(requests) >= 2:
            raise RuntimeError("the pass failed")
        return [r + 1 for r in requests]

    rounds = Lockstep([0, 1, 2], answer)

    def count(k):
        x = 0
        for _ in range(3 + k):
            x = rounds.request(x)
        return x

    started = threading.active_count()
    with pytest.raises(RuntimeError, match="the pass failed"):
        run_group(rounds, {k: (lambda k=k: count(k)) for k in range(3)})
    assert threading.active_count() == started and rounds.n_rounds == 2
    ok = Lockstep([0, 1], lambda batch, reqs: [r + 1 for r in reqs])
    assert run_group(ok, {0: lambda: ok.request(0), 1: lambda: ok.request(ok.request(5))}) == \
        {0: 1, 1: 7}
    assert ok.n_rounds == 2
