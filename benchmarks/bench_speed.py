"""Speed of leaveout, as ratios to one exact fit timed in the same run.

Usage::

    python benchmarks/bench_speed.py            # full run (about 3 CPU-minutes)
    python benchmarks/bench_speed.py --quick    # smaller sizes, 3 repeats (under a CPU-minute)

Shared machines are noisy, so every operation is timed ``--repeats`` times and the median is
reported, and every time is also given as a ratio to the median of one ``leaveout.fit`` (and of one
scikit-learn ``LogisticRegression(C=1/l2, tol=1e-8).fit``) on the same data, timed in the same
rounds. Rounds are interleaved (each round times every operation once) so a change of the load
during the run affects the baseline and the operations alike.

Clock. By default the BLAS runs one thread (``--threads 1``) and the ratios are computed from the
process's CPU time (``time.process_time``), which with a single thread is the work done by the
operation whatever else runs on the machine; wall-clock medians are printed next to it. On a
shared, oversubscribed 2-core machine this matters: wall-clock times of one operation were
measured to vary 3-30x between repeats, and a multi-threaded OpenBLAS was 15-25x slower than a
single thread on the same matrix product. ``--threads 0`` leaves the BLAS as it is and then uses
wall-clock time (CPU time would count busy-waiting BLAS threads).

"cold" means on a freshly constructed ``Attributor`` (the first call pays for the one-time
H⁻¹X̃ᵀ / leverage computation); "warm" means after ``att.leverage`` has been computed once.
The Attributor's construction is never included in another operation's time.

A scaling section then checks the cost model (DESIGN.md §3): the Newton step per removal set
should cost O(k²p + k³) after a one-time O(np²) precomputation (so be independent of n), and
per-row effects on m targets O(npm) once the leverages are known.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limit_blas_threads, logistic_data, machine_line, random_sets  # noqa: E402

L2 = 1.0
N_SETS_NEWTON = 100
N_SETS_RETRAIN = 10
M_QUERY = 50
N_TEST = 1000

FIT = "leaveout.fit (baseline)"
SKL = "sklearn LogisticRegression.fit"
SKL_DEFAULT = "sklearn LogisticRegression().fit (default tol 1e-4)"
XTX = "X.T @ X (limit proxy)"

#: Which clock the ratios use: "cpu" (process time) or "wall"; set in main().
CLOCK = "cpu"


def first_order(att, method, target):
    """Per-row first-order target effects (``linearize=True``): the rows of the published
    tables; the plug-in default has its own rows."""
    return att.effects(method, target=target, linearize=True)


def timed(fn, setup=None):
    """(CPU seconds, wall seconds) taken by ``fn(state)``; ``state = setup()`` is untimed."""
    state = setup() if setup is not None else None
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    fn(state)
    return time.process_time() - c0, time.perf_counter() - w0


def median_time(fn, setup, repeats):
    """Median (CPU, wall) seconds over ``repeats`` timings."""
    ts = [timed(fn, setup) for _ in range(repeats)]
    return statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)


def pick(t):
    """The clock the ratios use, from a (CPU, wall) pair."""
    return t[0] if CLOCK == "cpu" else t[1]


def fmt_s(t: float) -> str:
    if t >= 1.0:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.1f} ms"
    return f"{t * 1e6:.0f} µs"


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    if r >= 0.01:
        return f"{r:.2f}×"
    return f"{r:.1e}×"


# -- the main table ----------------------------------------------------------------------------

def speed_table(n: int, p: int, repeats: int, seed: int = 0):
    import leaveout
    from leaveout import targets
    from sklearn.linear_model import LogisticRegression

    X, y, X_test, y_test = logistic_data(n, p, seed=seed, n_test=N_TEST)
    scalar = targets.loss(X_test, y_test, reduce="sum")   # total test loss (N_TEST rows)
    multi = targets.prediction(X_test[:M_QUERY])          # M_QUERY test probabilities
    ks = {"1%": max(1, n // 100), "5%": max(1, n // 20)}
    newton_sets = {name: random_sets(n, k, N_SETS_NEWTON, seed=seed + 1 + i)
                   for i, (name, k) in enumerate(ks.items())}
    retrain_sets = {name: s[:N_SETS_RETRAIN] for name, s in newton_sets.items()}

    model = leaveout.fit(X, y, l2=L2)

    def fresh():
        return leaveout.Attributor(model, X, y)

    # One warm Attributor per round, shared by the "warm" operations (they only read it).
    shared = {}

    def warm():
        return shared["att"]

    # (label, fn, setup); the first two are the baselines.
    ops = [
        (FIT, lambda _: leaveout.fit(X, y, l2=L2), None),
        (SKL, lambda _: LogisticRegression(C=1.0 / L2, tol=1e-8, max_iter=10_000).fit(X, y),
         None),
        (SKL_DEFAULT, lambda _: LogisticRegression(C=1.0 / L2).fit(X, y), None),
        (XTX, lambda _: X.T @ X, None),
        ("Attributor(model, X, y)", lambda _: fresh(), None),
        ("att.leverage (cold)", lambda a: a.leverage, fresh),
        ('effects("if") n×p (warm)', lambda a: a.effects("if"), warm),
        ('effects("rif") n×p (warm)', lambda a: a.effects("rif"), warm),
        ('effects("rif") n×p (cold)', lambda a: a.effects("rif"), fresh),
        ('effects("if", scalar target) (cold)', lambda a: first_order(a, "if", scalar), fresh),
        ('effects("rif", scalar target) (cold)', lambda a: first_order(a, "rif", scalar),
         fresh),
        ('effects("rif", scalar target) (warm)', lambda a: first_order(a, "rif", scalar),
         warm),
        (f'effects("rif", m={M_QUERY} target) (cold)', lambda a: first_order(a, "rif", multi),
         fresh),
        (f'effects("rif", m={M_QUERY} target) (warm)', lambda a: first_order(a, "rif", multi),
         warm),
        ('effects("rif", scalar target) plug-in (warm)',
         lambda a: a.effects("rif", target=scalar), warm),
        (f'effects("rif", m={M_QUERY} target) plug-in (warm)',
         lambda a: a.effects("rif", target=multi), warm),
    ]
    for name, k in ks.items():
        sets = newton_sets[name]
        ops.append((f'newton, {N_SETS_NEWTON} sets, k={k} ({name}) (cold)',
                    lambda a, s=sets: a.effects("newton", remove=s), fresh))
        ops.append((f'newton, {N_SETS_NEWTON} sets, k={k} ({name}) (warm)',
                    lambda a, s=sets: a.effects("newton", remove=s), warm))
    for name, k in ks.items():
        sets = retrain_sets[name]
        ops.append((f'retrain, {N_SETS_RETRAIN} sets, k={k} ({name})',
                    lambda a, s=sets: a.effects("retrain", remove=s), warm))

    times = {label: [] for label, _, _ in ops}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a ConvergenceWarning would only add noise here
        for _ in range(repeats):
            shared["att"] = fresh()
            shared["att"].leverage
            for label, fn, setup in ops:
                times[label].append(timed(fn, setup))
    med = {label: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
           for label, ts in times.items()}
    return ops, med, ks


def print_speed(n, p, repeats, ops, med, ks):
    base, skl, xtx = pick(med[FIT]), pick(med[SKL]), pick(med[XTX])
    print(f"\n### n = {n}, p = {p} (+ intercept), logistic, l2 = {L2:g}; median of {repeats}\n")
    print("| operation | CPU s (median) | wall s (median) | × one leaveout.fit | "
          "× one sklearn fit | × one X.T @ X |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, _, _ in ops:
        cpu, wall = med[label]
        print(f"| {label} | {fmt_s(cpu)} | {fmt_s(wall)} | {fmt_ratio(pick(med[label]) / base)} "
              f"| {fmt_ratio(pick(med[label]) / skl)} | {fmt_ratio(pick(med[label]) / xtx)} |")
    print()
    print(f"| per removal set ({CLOCK} time) | newton (warm) | retrain | retrain / newton |")
    print("|---|---:|---:|---:|")
    for name, k in ks.items():
        tn = pick(med[f'newton, {N_SETS_NEWTON} sets, k={k} ({name}) (warm)']) / N_SETS_NEWTON
        tr = pick(med[f'retrain, {N_SETS_RETRAIN} sets, k={k} ({name})']) / N_SETS_RETRAIN
        print(f"| k = {k} ({name} of n) | {fmt_s(tn)} | {fmt_s(tr)} | {tr / tn:.0f}× |")
    sys.stdout.flush()


# -- scaling checks ----------------------------------------------------------------------------

def scaling_checks(repeats: int, quick: bool):
    """Time one operation at two sizes and compare the ratio with the cost model's."""
    import leaveout
    from leaveout import targets

    rows = []
    p = 100
    n_small, n_big = (1000, 4000) if quick else (2000, 16000)

    atts = {}
    for n in (n_small, n_big):
        X, y, X_test, _ = logistic_data(n, p, seed=7, n_test=400)
        att = leaveout.Attributor(leaveout.fit(X, y, l2=L2), X, y)
        att.leverage
        atts[n] = (att, X_test)

    def newton_per_set(n, k, n_sets):
        att = atts[n][0]
        sets = random_sets(n, k, n_sets, seed=11)
        t = median_time(lambda _: att.effects("newton", remove=sets), None, repeats)
        return pick(t) / n_sets

    # 1. newton per set is independent of n (k, p fixed).
    k = 100
    t1, t2 = newton_per_set(n_small, k, 50), newton_per_set(n_big, k, 50)
    rows.append((f"newton per set, k={k}, p={p}: n {n_small} → {n_big}", t1, t2, 1.0,
                 "O(k²p + k³): independent of n"))
    # 2. newton per set vs k (n, p fixed): between k²p and k³ growth.
    ka, kb = (50, 200) if quick else (100, 400)
    t1, t2 = newton_per_set(n_big, ka, 50), newton_per_set(n_big, kb, 10)
    lo, hi = (kb / ka) ** 2, (kb / ka) ** 3
    rows.append((f"newton per set, n={n_big}, p={p}: k {ka} → {kb}", t1, t2, (lo, hi),
                 f"O(k²p + k³): ×{lo:.0f} (k²p) to ×{hi:.0f} (k³) asymptotically; less "
                 f"while the fixed per-set overhead dominates"))
    # 3. per-row target effects vs m (warm; n, p fixed): at most linear in m.
    att, X_test = atts[n_big]
    ma, mb = 10, 400
    tq = {m: targets.prediction(X_test[:m]) for m in (ma, mb)}
    t1 = pick(median_time(lambda _: first_order(att, "rif", tq[ma]), None, repeats))
    t2 = pick(median_time(lambda _: first_order(att, "rif", tq[mb]), None, repeats))
    rows.append((f'effects("rif", m targets) warm, n={n_big}, p={p}: m {ma} → {mb}', t1, t2,
                 mb / ma, "O(npm): at most linear in m"))
    # 4. per-row target effects vs n (warm, m fixed): linear in n.
    m = 100
    t_n = {}
    for n in (n_small, n_big):
        a, Xt = atts[n]
        tgt = targets.prediction(Xt[:m])
        t_n[n] = pick(median_time(lambda _, a=a, tgt=tgt: first_order(a, "rif", tgt), None,
                                  repeats))
    rows.append((f'effects("rif", m={m} targets) warm, p={p}: n {n_small} → {n_big}',
                 t_n[n_small], t_n[n_big], n_big / n_small, "O(npm): linear in n"))
    # 5. the one-time precomputation (cold leverage) vs n: linear in n.
    t_lev = {}
    for n in (n_small, n_big):
        X, y, _, _ = logistic_data(n, p, seed=7)
        model = leaveout.fit(X, y, l2=L2)
        t_lev[n] = pick(median_time(
            lambda a: a.leverage,
            lambda X=X, y=y, model=model: leaveout.Attributor(model, X, y), repeats))
    rows.append((f"att.leverage (cold), p={p}: n {n_small} → {n_big}", t_lev[n_small],
                 t_lev[n_big], n_big / n_small, "O(np²): linear in n"))
    return rows


def print_scaling(rows, repeats):
    print(f"\n### Scaling checks (warm Attributor; {CLOCK} time, median of {repeats})\n")
    print("| operation: size change | time before | time after | observed ratio | "
          "expected ratio | cost model |")
    print("|---|---:|---:|---:|---:|---|")
    flagged = []
    for label, t1, t2, expected, model in rows:
        obs = t2 / t1
        if isinstance(expected, tuple):
            exp_s = f"≤ {expected[1]:.0f}"
            worse = obs > 2.0 * expected[1]
        else:
            exp_s = f"≤ {expected:.0f}" if expected > 1 else f"≈ {expected:.0f}"
            worse = obs > 2.0 * max(expected, 1.0)
        mark = "  ⚠ worse than expected" if worse else ""
        if worse:
            flagged.append(label)
        print(f"| {label} | {fmt_s(t1)} | {fmt_s(t2)} | {obs:.1f}{mark} | {exp_s} | {model} |")
    print()
    if flagged:
        print("Scaling worse than the cost model (more than 2× the expected ratio): "
              + "; ".join(flagged))
    else:
        print("Every checked operation scales within 2× of its cost model.")


def main(argv=None):
    global CLOCK
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timings per operation (default 5, --quick 3)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads (default 1; 0 leaves the BLAS default and uses wall time)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default=None,
                    help="clock of the ratios (default: cpu with --threads 1, else wall)")
    ap.add_argument("--sizes", default=None,
                    help="comma-separated n×p list, e.g. 2000x50,2000x400 (overrides defaults)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling checks")
    args = ap.parse_args(argv)

    repeats = args.repeats or (3 if args.quick else 5)
    CLOCK = args.clock or ("cpu" if args.threads == 1 else "wall")
    if args.sizes:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    elif args.quick:
        sizes = [(1000, 20), (1000, 200)]
    else:
        sizes = [(2000, 50), (2000, 400), (10000, 200)]

    blas = limit_blas_threads(args.threads)
    w0, c0 = time.perf_counter(), time.process_time()
    print("# leaveout speed benchmark\n")
    print(machine_line())
    print(f"{blas}; ratios from {CLOCK} time\n")
    print("Synthetic logistic data: x ~ N(0, I/p), y ~ Bernoulli(σ(x·β)), ‖β‖² = p; l2 = 1. "
          f"Scalar target: total loss on {N_TEST} test rows; m-target: {M_QUERY} test "
          f"probabilities. Removal sets: uniformly random rows. sklearn: "
          f"LogisticRegression(C=1/l2, tol=1e-8, lbfgs, max_iter=10000).")
    for n, p in sizes:
        ops, med, ks = speed_table(n, p, repeats)
        print_speed(n, p, repeats, ops, med, ks)
    if not args.no_scaling:
        rows = scaling_checks(repeats, args.quick)
        print_scaling(rows, repeats)
    print(f"\nTotal: {time.perf_counter() - w0:.0f} s wall, {time.process_time() - c0:.0f} s "
          f"CPU; at the end: {machine_line()}")


if __name__ == "__main__":
    main()
