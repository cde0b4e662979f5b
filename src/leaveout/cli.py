"""Command-line interface: thin — parse, call the public API, print."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _demo(args) -> int:
    from .demo import format_demo, run_demo

    print(format_demo(run_demo(seed=args.seed, l2=args.l2)))
    return 0


def _bench(args) -> int:
    datasets = args.datasets
    cfg = pois_datasets = None
    # Everything is checked before either study starts.
    if args.study in ("accuracy", "all"):
        from .bench.runner import BenchConfig

        cfg = BenchConfig(datasets=datasets, quick=args.quick, sweeps=not args.no_sweeps,
                          n_jobs=args.n_jobs, seed=args.seed, cache_dir=args.cache_dir)
    if args.study in ("poisoning", "all"):
        from .bench.poisoning import logistic_datasets

        pois_datasets = datasets
        if datasets is not None and args.study == "all":
            pois_datasets, others = logistic_datasets(datasets)
            if not pois_datasets:
                raise ValueError(
                    f"--datasets: the poisoning study of `bench all` needs logistic datasets and "
                    f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} not; run "
                    f"`leaveout bench accuracy` for {'it' if len(others) == 1 else 'them'}, or "
                    f"add a logistic dataset.")
            if others:
                logging.getLogger("leaveout.cli").warning(
                    "the poisoning study needs logistic datasets: it leaves out %s (the accuracy "
                    "study runs them)", ", ".join(others))
    if cfg is not None:
        from .bench.runner import run_bench

        run_bench(args.out, cfg)
        print(f"accuracy study written to {args.out}/ (results.csv, summary.csv, results.md, "
              f"figures); rerun the same command to resume an interrupted run")
    if args.study in ("poisoning", "all"):
        from .bench.poisoning import run_poisoning

        run_poisoning(args.out, datasets=pois_datasets, quick=args.quick, seed=args.seed,
                      cache_dir=args.cache_dir)
        print(f"poisoning study written to {args.out}/ (poisoning.csv, poisoning_summary.csv, "
              f"fig_poisoning.png)")
    if args.study == "all":
        from .bench.report import rewrite_report

        rewrite_report(args.out)
        print(f"results page: {args.out}/results.md")
    return 0


def _seed(text: str) -> int:
    """argparse type of --seed: an int in [0, 2**63)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63), got {text}")
    return value


def _n_jobs(text: str) -> int:
    """argparse type of --n-jobs: a non-zero int (-1 = every CPU core)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-zero integer, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("expected a non-zero integer (processes; -1 = every "
                                         "CPU core), got 0")
    return value


def _directory(text: str) -> str:
    """argparse type of --out / --cache-dir: a directory, or a path where one can be made."""
    if not text:
        raise argparse.ArgumentTypeError("expected a directory, got ''")
    p = Path(text)
    while not p.exists() and p.parent != p:
        p = p.parent
    if p.exists() and not p.is_dir():
        where = "is a file" if str(p) == str(Path(text)) else f"is inside {p}, which is a file"
        raise argparse.ArgumentTypeError(f"{text!r} {where}; expected a directory")
    return text


def _names(text: str) -> tuple[str, ...]:
    """argparse type of --datasets: comma-separated names, whitespace stripped."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated dataset names (e.g. breast_cancer,synthetic), got {text!r}")
    return names


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
    demo.add_argument("--seed", type=_seed, default=0, help="train/test split and set seed")
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
    bench.add_argument("--datasets", type=_names, default=None,
                       help="comma-separated dataset names (with `all`: the poisoning study "
                            "takes the logistic ones)")
    bench.add_argument("--out", type=_directory, default="bench-out",
                       help="output directory (default bench-out); rerun into it to resume")
    bench.add_argument("--n-jobs", type=_n_jobs, default=1,
                       help="processes for retraining (-1: every CPU core)")
    bench.add_argument("--no-sweeps", action="store_true", help="skip the p/n and λ sweeps")
    bench.add_argument("--seed", type=_seed, default=0,
                       help="datasets' splits, random sets and poisoning targets (default 0)")
    bench.add_argument("--cache-dir", type=_directory, default=None,
                       help="dataset cache (default ~/.cache/leaveout)")
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
    except KeyboardInterrupt:
        hint = "; rerun the same command to resume" if args.command == "bench" else ""
        print(f"leaveout: interrupted{hint}", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f" to {exc.filename}" if exc.filename else ""
        print(f"leaveout: error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, ImportError) as exc:
        print(f"leaveout: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
