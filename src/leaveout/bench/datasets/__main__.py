"""``python -m leaveout.bench.datasets [NAMES] [--quick] [--seed S] [--cache-dir DIR]``: load the
benchmark datasets and print their shapes (by default every dataset that is not slow)."""

from __future__ import annotations

import time

from ._registry import DATASETS, load


def _main() -> None:  # pragma: no cover - a convenience for looking at the registry
    import argparse

    ap = argparse.ArgumentParser(description="load the benchmark datasets and print their shapes")
    ap.add_argument("names", nargs="*", default=[n for n, s in DATASETS.items() if not s.slow])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    a = ap.parse_args()
    for nm in a.names:
        t = time.perf_counter()
        try:
            ds = load(nm, quick=a.quick, seed=a.seed, cache_dir=a.cache_dir)
        except ImportError as exc:
            print(f"{nm}: skipped ({exc})")
            continue
        print(f"{ds.summary()}  [{time.perf_counter() - t:.2f}s]")


if __name__ == "__main__":  # pragma: no cover
    _main()
