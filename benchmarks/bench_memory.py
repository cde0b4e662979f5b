"""Peak memory of leaveout's per-row effects, relative to the size of the training matrix X.

Usage::

    python benchmarks/bench_memory.py            # n = 2000, 8000, 20000; p = 100; m = 100
    python benchmarks/bench_memory.py --ns 200000 # the size of the issue-9 memory target
    python benchmarks/bench_memory.py --quick    # n = 1000, 4000

Each measurement runs in a fresh subprocess: it draws the data, fits, builds the ``Attributor``
(and for "warm" rows computes ``att.leverage``), then starts ``tracemalloc`` and runs the one
operation. The reported peak is the largest amount of memory newly allocated during that operation
(NumPy reports its array buffers to tracemalloc), the result included — i.e. what the operation
costs on top of the data and the fitted state. It is printed as a ratio to size(X) = n·p·8 bytes.

If the per-row target effects went through an n × p × m tensor or an n × n matrix the ratio would
grow like m or like n; it should instead stay roughly constant as n grows (memory linear in n).
"result / size(X)" is the size of the returned array itself, a lower bound for any implementation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limit_blas_threads, logistic_data, machine_line, random_sets  # noqa: E402

L2 = 1.0

#: Rows per removal set of the newton measurement: fixed, so that its peak is independent of n.
K_NEWTON = 100

#: name -> what is measured
OPS = {
    "construct": "Attributor(model, X, y)",
    "leverage": "att.leverage (cold)",
    "rif_target_cold": 'effects("rif", target=prediction(Xq)) (cold)',
    "rif_target_warm": 'effects("rif", target=prediction(Xq)) (warm)',
    "if_target_cold": 'effects("if", target=prediction(Xq)) (cold)',
    "rif_scalar_cold": 'effects("rif", target=loss(Xq, yq, reduce="sum")) (cold)',
    "rif_params_warm": 'effects("rif") n×p (warm)',
    "newton_sets_warm": f'effects("newton", remove=10 sets of k={K_NEWTON}) (warm)',
    "attribute_rif": 'Attributor(model, X, y).effects("rif"): construction + all rows',
    "attribute_rif_nocopy": 'Attributor(model, X, y, copy=False).effects("rif")',
}


def child(op: str, n: int, p: int, m: int) -> dict:
    """Run one measurement in this process and return its figures."""
    import tracemalloc

    limit_blas_threads(1)
    import leaveout
    from leaveout import targets

    X, y, Xq, yq = logistic_data(n, p, seed=0, n_test=m)
    model = leaveout.fit(X, y, l2=L2)
    target = targets.prediction(Xq)
    scalar = targets.loss(Xq, yq, reduce="sum")
    sets = random_sets(n, min(K_NEWTON, n), 10, seed=1)
    att = None
    if op not in ("construct", "attribute_rif", "attribute_rif_nocopy"):
        att = leaveout.Attributor(model, X, y)
        if op.endswith("_warm"):
            att.leverage

    calls = {
        "construct": lambda: leaveout.Attributor(model, X, y),
        "leverage": lambda: att.leverage,
        "rif_target_cold": lambda: att.effects("rif", target=target, linearize=True),
        "rif_target_warm": lambda: att.effects("rif", target=target, linearize=True),
        "if_target_cold": lambda: att.effects("if", target=target, linearize=True),
        "rif_scalar_cold": lambda: att.effects("rif", target=scalar, linearize=True),
        "rif_params_warm": lambda: att.effects("rif"),
        "newton_sets_warm": lambda: att.effects("newton", remove=sets),
        "attribute_rif": lambda: leaveout.Attributor(model, X, y).effects("rif"),
        "attribute_rif_nocopy": lambda: leaveout.Attributor(model, X, y,
                                                            copy=False).effects("rif"),
    }
    fn = calls[op]
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    shape = list(getattr(result, "shape", ()))
    del result
    return {"op": op, "n": n, "p": p, "m": m, "peak": peak, "X_bytes": X.nbytes,
            "seconds": seconds, "shape": shape}


def run_child(op, n, p, m):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", op, str(n), str(p), str(m)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"measurement {op} n={n} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def mb(b: float) -> str:
    return f"{b / 2**20:.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 1000, 4000 only")
    ap.add_argument("--ns", default=None, help="comma-separated n values (default 2000,8000,20000)")
    ap.add_argument("-p", type=int, default=100, help="features (default 100)")
    ap.add_argument("-m", type=int, default=100, help="query rows of the target (default 100)")
    ap.add_argument("--child", nargs=4, metavar=("OP", "N", "P", "M"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        op, n, p, m = args.child
        print(json.dumps(child(op, int(n), int(p), int(m))))
        return

    if args.ns:
        ns = [int(v) for v in args.ns.split(",")]
    else:
        ns = [1000, 4000] if args.quick else [2000, 8000, 20000]
    p, m = args.p, args.m
    t_start = time.perf_counter()
    print("# leaveout memory benchmark\n")
    print(machine_line())
    print(f"Peak memory newly allocated by one operation (tracemalloc, result included), one "
          f"fresh subprocess per measurement. Logistic, p = {p} (+ intercept), m = {m} query "
          f"rows, l2 = {L2:g}. size(X) = n·p·8 bytes. cold: fresh Attributor; warm: after "
          f"att.leverage.\n")
    results = {}
    for n in ns:
        for op in OPS:
            results[op, n] = run_child(op, n, p, m)

    x_mb = ", ".join(f"{mb(n * p * 8)} MB at n={n}" for n in ns)
    print(f"size(X): {x_mb}. For comparison an n×p×m tensor would be {m}·size(X) "
          f"({mb(ns[-1] * p * m * 8)} MB at n={ns[-1]}) and an n×n matrix "
          f"{mb(ns[-1] ** 2 * 8)} MB at n={ns[-1]}.\n")
    head = " | ".join(f"n={n}" for n in ns)
    print(f"| operation | peak / size(X): {head} | growth n={ns[0]}→{ns[-1]} | "
          f"result / size(X) | peak MB at n={ns[-1]} |")
    print("|---|" + "---:|" * len(ns) + "---:|---:|---:|")
    flagged = []
    for op, label in OPS.items():
        ratios = [results[op, n]["peak"] / results[op, n]["X_bytes"] for n in ns]
        growth = ratios[-1] / ratios[0]
        last = results[op, ns[-1]]
        result_ratio = 8.0 * math.prod(last["shape"]) / last["X_bytes"]
        print(f"| {label} | " + " | ".join(f"{r:.2f}" for r in ratios)
              + f" | {growth:.2f} | {result_ratio:.2f} | {mb(last['peak'])} |")
        if growth > 1.5:
            flagged.append(label)
    print()
    print(f"(growth = (peak/size(X) at n={ns[-1]}) / (peak/size(X) at n={ns[0]}): about 1 "
          f"means memory "
          f"linear in n; n={ns[-1]}/{ns[0]} = {ns[-1] / ns[0]:.0f} would mean quadratic.)")
    if flagged:
        print("Peak/size(X) grows with n (more than 1.5×) for: " + "; ".join(flagged))
    else:
        print("Peak/size(X) stays within 1.5× as n grows for every operation: no n×n or n×p×m "
              "intermediate.")
    print("\nThe two Attributor(...).effects(\"rif\") rows count everything allocated after the "
          "fit (the private copy of X, the fitted state, the n × (p+1) result); the process's "
          "total peak is 1 (X itself) more.")
    print(f"\nTotal wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
