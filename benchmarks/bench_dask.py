"""Dask designs at scale: fit + leverages + all-row RIF on a LocalCluster, against n.

    python benchmarks/bench_dask.py [--n 1e6 2e6] [--p 100] [--workers 2] [--chunk 100000]
    python benchmarks/bench_dask.py --retrain [--n 2e5] [--p 50] [--chunk 25000] [--sets 20]
                                    [--set-size 50]

Synthetic logistic data (l2 = 1) generated block by block on the workers (``dask.array.random``
with a fixed seed; never on the client) and persisted in the workers' memory. For each n a fresh
``LocalCluster`` (processes, one thread each) runs, timed separately:

- ``fit``: ``leaveout.fit`` (the input check pass, then distributed Newton);
- ``attributor``: ``leaveout.Attributor`` on the fitted model (check pass + polish);
- ``leverage``: all n leverages computed (summed on the workers: nothing n-sized is gathered);
- ``rif``: all-row RIF effects (n × (p+1)) computed, likewise reduced on the workers;

and reports the peak resident memory of each worker process (``ru_maxrss``) and of the client.
As a baseline in the same run: one distributed X̃ᵀWX̃ (a single pass of the Gram over the
persisted data), the unit in which the other times are also given.

``--retrain``: ``effects("retrain", remove=sets)`` for ``--sets`` random sets of ``--set-size``
rows, three ways on the same cluster and data: the refits sharing each pass (the default,
``leaveout._dask.refits.REFITS_PER_PASS``), each refit making its own passes with up to 8 side
by side (``REFITS_PER_PASS = 1``), and one refit after the other (also
``MAX_CONCURRENT_REFITS = 1``); times, ratios to the serial loop, passes, and whether the
answers are the same bits.
"""

from __future__ import annotations

import argparse
import resource
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _data(client, n: int, p: int, workers: int, chunk: int):
    """Synthetic logistic X (n, p) and y, generated block by block on the workers, persisted."""
    import dask.array as da
    import numpy as np
    from distributed import wait

    rng = da.random.default_rng(0)
    X = rng.standard_normal((n, p), chunks=(chunk, p))
    beta = np.random.default_rng(1).standard_normal(p) / np.sqrt(p)
    prob = 1.0 / (1.0 + da.exp(-(X @ beta)))
    y = (rng.random(n, chunks=(chunk,)) < prob).astype(float)
    X, y = client.persist([X, y])
    client.wait_for_workers(workers)
    wait([X, y])
    return X, y


def run_retrain(n: int, p: int, workers: int, chunk: int, n_sets: int, set_size: int) -> dict:
    """Time retrain of ``n_sets`` random sets three ways (see the module docstring)."""
    import numpy as np
    from distributed import Client, LocalCluster

    import leaveout
    from leaveout._dask import refits, state
    from leaveout.designs.dask import DaskDesign

    import dask.array as da

    rng = np.random.default_rng(2)
    sets = [rng.choice(n, set_size, replace=False) for _ in range(n_sets)]
    ways = {"shared passes": (refits.REFITS_PER_PASS, state.MAX_CONCURRENT_REFITS),
            "side by side": (1, state.MAX_CONCURRENT_REFITS), "serial": (1, 1)}
    out = {"n": n, "p": p, "workers": workers, "chunk": chunk, "sets": n_sets,
           "set_size": set_size}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40, memory_limit=0) as cluster, \
            Client(cluster) as client:
        X, y = _data(client, n, p, workers, chunk)
        gram = []
        for _ in range(3):  # the first pass also warms the workers up
            t = time.perf_counter()
            DaskDesign(X, True).weighted_gram(da.ones(n, chunks=(chunk,)))
            gram.append(time.perf_counter() - t)
        out["gram_s"] = min(gram)
        att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
        passes = []
        real_pass = refits.DaskLinearLoss._data_parts  # one pass of a fit of its own
        real_round = refits.RetainedStats.__call__     # one pass shared by a round of fits

        def own(self, theta):
            passes.append(1)
            return real_pass(self, theta)

        def shared(self, batch, thetas):
            passes.append(1)
            return real_round(self, batch, thetas)

        refits.DaskLinearLoss._data_parts = own
        refits.RetainedStats.__call__ = shared
        saved = refits.REFITS_PER_PASS, state.MAX_CONCURRENT_REFITS
        results = {}
        try:
            for way, (per_pass, lanes) in ways.items():
                refits.REFITS_PER_PASS, state.MAX_CONCURRENT_REFITS = per_pass, lanes
                passes.clear()
                t = time.perf_counter()
                results[way] = att.effects("retrain", remove=sets)
                out[way] = (time.perf_counter() - t, len(passes))
        finally:
            refits.REFITS_PER_PASS, state.MAX_CONCURRENT_REFITS = saved
            refits.DaskLinearLoss._data_parts = real_pass
            refits.RetainedStats.__call__ = real_round
        out["same_bits"] = all(np.array_equal(r, results["serial"], equal_nan=True)
                               for r in results.values())
    return out


def run(n: int, p: int, workers: int, chunk: int, memory_limit="0") -> dict:
    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster

    import leaveout

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40,
                      memory_limit=memory_limit) as cluster, \
            Client(cluster) as client:
        t = time.perf_counter()
        X, y = _data(client, n, p, workers, chunk)
        out = {"n": n, "p": p, "workers": workers, "chunk": chunk,
               "generate_s": time.perf_counter() - t}

        from leaveout.designs.dask import DaskDesign
        design = DaskDesign(X, True)
        w = da.ones(n, chunks=(chunk,))
        t = time.perf_counter()
        design.weighted_gram(w)
        out["gram_s"] = time.perf_counter() - t

        t = time.perf_counter()
        model = leaveout.fit(X, y, l2=1.0)
        out["fit_s"] = time.perf_counter() - t
        out["newton_iter"] = model.n_iter_
        t = time.perf_counter()
        att = leaveout.Attributor(model, X, y)
        out["attributor_s"] = time.perf_counter() - t
        t = time.perf_counter()
        float(att.leverage.sum().compute())
        out["leverage_s"] = time.perf_counter() - t
        t = time.perf_counter()
        att.effects("rif").sum(axis=0).compute()
        out["rif_s"] = time.perf_counter() - t
        out["worker_peak_mb"] = sorted(client.run(_peak_mb).values())
        out["client_peak_mb"] = _peak_mb()
        out["gradient_norm"] = model.gradient_norm_
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=float, nargs="+", default=[1e6, 2e6])
    ap.add_argument("--p", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=None,
                    help="rows per block (default 100000; 25000 with --retrain)")
    ap.add_argument("--memory-limit", default="0",
                    help="per worker, as LocalCluster takes it (e.g. '7GiB': Dask spills to "
                         "disk above 60-70%% of it); default 0: no limit, no spilling")
    ap.add_argument("--retrain", action="store_true", help="time retrain of many sets instead")
    ap.add_argument("--sets", type=int, default=20)
    ap.add_argument("--set-size", type=int, default=50)
    args = ap.parse_args()
    if args.retrain:
        n = int(args.n[0]) if args.n != ap.get_default("n") else 200_000
        p = args.p if args.p != ap.get_default("p") else 50
        r = run_retrain(n, p, args.workers, args.chunk or 25_000, args.sets, args.set_size)
        print(f"retrain of {r['sets']} sets of {r['set_size']} rows, n = {r['n']}, p = {r['p']}, "
              f"blocks of {r['chunk']}, {r['workers']} workers x 1 thread; one Gram pass "
              f"{r['gram_s']:.2f} s")
        base = r["serial"][0]
        for way in ("serial", "side by side", "shared passes"):
            secs, passes = r[way]
            print(f"  {way:>14}: {secs:7.1f} s  {passes:4d} passes  {base / secs:5.2f}x serial"
                  f"  {secs / r['gram_s']:6.1f} Gram passes")
        print(f"  same bits in all three: {r['same_bits']}")
        return
    args.chunk = args.chunk or 100_000
    print(f"{'n':>10} {'X GB':>6} {'gen s':>6} {'gram s':>7} {'fit s':>7} {'iter':>4} {'attrib s':>8} "
          f"{'lev s':>6} {'rif s':>6} {'fit/gram':>8} {'rif/gram':>8} "
          f"{'worker peak MB':>16} {'client MB':>9}")
    for n in args.n:
        r = run(int(n), args.p, args.workers, args.chunk, args.memory_limit)
        g = r["gram_s"]
        print(f"{r['n']:>10d} {8 * r['n'] * r['p'] / 1e9:>6.1f} {r['generate_s']:>6.1f} {g:>7.2f} {r['fit_s']:>7.1f} "
              f"{r['newton_iter']:>4d} {r['attributor_s']:>8.1f} {r['leverage_s']:>6.1f} "
              f"{r['rif_s']:>6.1f} {r['fit_s'] / g:>8.1f} {r['rif_s'] / g:>8.1f} "
              f"{'/'.join(f'{m:.0f}' for m in r['worker_peak_mb']):>16} "
              f"{r['client_peak_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
