"""Dask designs at scale: fit + leverages + all-row RIF on a LocalCluster, against n.

    python benchmarks/bench_dask.py [--n 1e6 2e6] [--p 100] [--workers 2] [--chunk 100000]

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
"""

from __future__ import annotations

import argparse
import resource
import time


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(n: int, p: int, workers: int, chunk: int) -> dict:
    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster

    import leaveout

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40, memory_limit=0) as cluster, \
            Client(cluster) as client:
        rng = da.random.default_rng(0)
        X = rng.standard_normal((n, p), chunks=(chunk, p))
        beta = np.random.default_rng(1).standard_normal(p) / np.sqrt(p)
        prob = 1.0 / (1.0 + da.exp(-(X @ beta)))
        y = (rng.random(n, chunks=(chunk,)) < prob).astype(float)
        X, y = client.persist([X, y])
        client.wait_for_workers(workers)
        from distributed import wait
        wait([X, y])
        out = {"n": n, "p": p, "workers": workers, "chunk": chunk}

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
    ap.add_argument("--chunk", type=int, default=100_000)
    args = ap.parse_args()
    print(f"{'n':>10} {'X GB':>6} {'gram s':>7} {'fit s':>7} {'iter':>4} {'attrib s':>8} "
          f"{'lev s':>6} {'rif s':>6} {'fit/gram':>8} {'rif/gram':>8} "
          f"{'worker peak MB':>16} {'client MB':>9}")
    for n in args.n:
        r = run(int(n), args.p, args.workers, args.chunk)
        g = r["gram_s"]
        print(f"{r['n']:>10d} {8 * r['n'] * r['p'] / 1e9:>6.1f} {g:>7.2f} {r['fit_s']:>7.1f} "
              f"{r['newton_iter']:>4d} {r['attributor_s']:>8.1f} {r['leverage_s']:>6.1f} "
              f"{r['rif_s']:>6.1f} {r['fit_s'] / g:>8.1f} {r['rif_s'] / g:>8.1f} "
              f"{'/'.join(f'{m:.0f}' for m in r['worker_peak_mb']):>16} "
              f"{r['client_peak_mb']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
