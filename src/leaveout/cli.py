"""Command-line interface: thin — parse, call the public API, print."""

from __future__ import annotations

import argparse
import logging
import sys


def _demo(args) -> int:
    from .demo import format_demo, run_demo

    print(format_demo(run_demo(seed=args.seed, l2=args.l2)))
    return 0


def _bench(args) -> int:
    datasets = tuple(d for d in args.datasets.split(",") if d) if args.datasets else None
    if args.study in ("accuracy", "all"):
        from .bench.runner import BenchConfig, run_bench

        cfg = BenchConfig(datasets=datasets if args.study == "accuracy" else None,
                          quick=args.quick, sweeps=not args.no_sweeps, n_jobs=args.n_jobs,
                          seed=args.seed, cache_dir=args.cache_dir)
        run_bench(args.out, cfg)
        print(f"accuracy study written to {args.out}/ (results.csv, summary.csv, results.md, "
              f"figures); rerun the same command to resume an interrupted run")
    if args.study in ("poisoning", "all"):
        from .bench.poisoning import run_poisoning

        run_poisoning(args.out, datasets=datasets if args.study == "poisoning" else None,
                      quick=args.quick, seed=args.seed, cache_dir=args.cache_dir)
        print(f"poisoning study written to {args.out}/ (poisoning.csv, poisoning_summary.csv, "
              f"fig_poisoning.png)")
    if args.study == "all":
        from .bench.report import rewrite_report

        rewrite_report(args.out)
        print(f"results page: {args.out}/results.md")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="leaveout",
        description="How would a model, its predictions and its losses change if training rows "
                    "had been left out?")
    parser.add_argument("--version", action="version", version=f"leaveout {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="attribute a logistic model on the breast-cancer data")
    demo.add_argument("--seed", type=int, default=0, help="train/test split and set seed")
    demo.add_argument("--l2", type=float, default=1.0, help="L2 penalty (sum convention)")
    demo.set_defaults(func=_demo)
    bench = sub.add_parser(
        "bench", help="reproduce the accuracy (default) or poisoning study of the RIF paper",
        description="Run the accuracy study (IF / RIF / Newton against retraining on real and "
                    "synthetic data) or the label-flip poisoning study. Interrupted runs resume.")
    bench.add_argument("study", nargs="?", choices=("accuracy", "poisoning", "all"),
                       default="accuracy", help="which study (default accuracy; all = both, "
                                                "one results page)")
    bench.add_argument("--quick", action="store_true", help="small data, few sets (minutes)")
    bench.add_argument("--datasets", default="", help="comma-separated dataset names")
    bench.add_argument("--out", default="bench-out", help="output directory (default bench-out)")
    bench.add_argument("--n-jobs", type=int, default=1, help="processes for retraining")
    bench.add_argument("--no-sweeps", action="store_true", help="skip the p/n and λ sweeps")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--cache-dir", default=None, help="dataset cache (default ~/.cache/leaveout)")
    bench.set_defaults(func=_bench)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (ValueError, TypeError, ImportError) as exc:
        print(f"leaveout: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
