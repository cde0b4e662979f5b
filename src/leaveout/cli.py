"""Command-line interface: thin — parse, call the public API, print."""

from __future__ import annotations

import argparse
import logging
import sys


def _demo(args) -> int:
    from .demo import format_demo, run_demo

    print(format_demo(run_demo(seed=args.seed, l2=args.l2)))
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
