"""The ``leaveout`` click group, its error handling, and the ``demo`` and ``bench`` commands."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import click

from . import __version__
from ._tabular import UserError


class Seed(click.ParamType):
    """--seed: an int in [0, 2**63)."""

    name = "SEED"

    def convert(self, value, param, ctx):
        try:
            v = int(value)
        except (TypeError, ValueError):
            self.fail(f"expected an integer >= 0, got {value!r}", param, ctx)
        if not 0 <= v < 2**63:
            self.fail(f"expected an integer in [0, 2**63), got {value}", param, ctx)
        return v


class NJobs(click.ParamType):
    """--n-jobs: a non-zero int (-1 = every CPU core)."""

    name = "N"

    def convert(self, value, param, ctx):
        try:
            v = int(value)
        except (TypeError, ValueError):
            self.fail(f"expected a non-zero integer, got {value!r}", param, ctx)
        if v == 0:
            self.fail("expected a non-zero integer (processes; -1 = every CPU core), got 0",
                      param, ctx)
        return v


class Directory(click.ParamType):
    """--out / --cache-dir of the benchmark: a directory, or a path where one can be made."""

    name = "DIR"

    def convert(self, value, param, ctx):
        text = str(value)
        if not text:
            self.fail("expected a directory, got ''", param, ctx)
        p = Path(text)
        while not p.exists() and p.parent != p:
            p = p.parent
        if p.exists() and not p.is_dir():
            where = "is a file" if str(p) == str(Path(text)) else f"is inside {p}, which is a file"
            self.fail(f"{text!r} {where}; expected a directory", param, ctx)
        return text


class Names(click.ParamType):
    """--datasets: comma-separated names, whitespace stripped."""

    name = "A,B"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        names = tuple(n.strip() for n in str(value).split(",") if n.strip())
        if not names:
            self.fail(f"expected comma-separated dataset names (e.g. breast_cancer,synthetic), "
                      f"got {value!r}", param, ctx)
        return names


def say(ctx_quiet: bool, text: str = "") -> None:
    """Print an informational line (suppressed by --quiet)."""
    if not ctx_quiet:
        click.echo(text)


class _JobBars:
    """``progress(job_name, done, total)`` of the benchmark as one tqdm bar per dataset (on a
    terminal; nothing with --quiet or without tqdm)."""

    def __init__(self, quiet: bool):
        self.quiet, self.name, self.bar = quiet, None, None

    def __call__(self, name, done, total):
        if self.quiet:
            return
        if name != self.name:
            self.close()
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.name = name
            self.bar = tqdm(total=total, desc=f"{name}: sets", file=sys.stderr, disable=None,
                            leave=False)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        self.name = self.bar = None


@click.group(context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100},
             no_args_is_help=True)
@click.version_option(__version__, "--version", message="leaveout %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Log progress to stderr.")
def app(verbose):
    """How would a model, its predictions and its losses change if training rows had been
    left out?

    \b
    On your files (CSV or Parquet):
      leaveout attribute TRAIN --target COL --query QUERY   most influential rows per query
      leaveout effect TRAIN --target COL --remove IDS       effect of removing a group
      leaveout report TRAIN --target COL --out REPORT.html  one self-contained HTML page
    Built in:
      leaveout demo                                         breast-cancer data, four methods
      leaveout bench                                        the accuracy / poisoning studies

    Every effect is the change when the rows are removed. `leaveout COMMAND --help` for more.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)


@app.command()
@click.option("--seed", type=Seed(), default=0, show_default=True,
              help="Train/test split and set seed.")
@click.option("--l2", type=float, default=1.0, show_default=True,
              help="L2 penalty (sum convention).")
def demo(seed, l2):
    """Attribute a logistic model on the breast-cancer data (IF / RIF / Newton / retrain)."""
    from .demo import format_demo, run_demo

    click.echo(format_demo(run_demo(seed=seed, l2=l2)))
    return 0


@app.command()
@click.argument("study", type=click.Choice(["accuracy", "poisoning", "all"]), default="accuracy",
                required=False)
@click.option("--quick", is_flag=True, help="Small data, few sets (minutes).")
@click.option("--datasets", type=Names(), default=None,
              help="Comma-separated dataset names (with `all`: the poisoning study takes the "
                   "logistic ones).")
@click.option("--out", type=Directory(), default="bench-out", show_default=True,
              help="Output directory; rerun into it to resume.")
@click.option("--n-jobs", type=NJobs(), default=1, show_default=True,
              help="Processes for retraining (-1: every CPU core).")
@click.option("--no-sweeps", is_flag=True, help="Skip the p/n and λ sweeps.")
@click.option("--seed", type=Seed(), default=0, show_default=True,
              help="Datasets' splits, random sets and poisoning targets.")
@click.option("--cache-dir", type=Directory(), default=None,
              help="Dataset cache (default ~/.cache/leaveout).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def bench(study, quick, datasets, out, n_jobs, no_sweeps, seed, cache_dir, quiet):
    """Reproduce the accuracy (default) or poisoning study of the RIF paper.

    STUDY is accuracy (IF / RIF / Newton against retraining on real and synthetic data),
    poisoning (label-flip attacks) or all (both, one results page). Interrupted runs resume.
    Progress is logged with -v.
    """
    cfg = pois_datasets = None
    # Everything is checked before either study starts.
    if study in ("accuracy", "all"):
        from .bench.runner import BenchConfig

        cfg = BenchConfig(datasets=datasets, quick=quick, sweeps=not no_sweeps, n_jobs=n_jobs,
                          seed=seed, cache_dir=cache_dir)
    if study in ("poisoning", "all"):
        from .bench.poisoning import logistic_datasets

        pois_datasets = datasets
        if datasets is not None and study == "all":
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

        bars = _JobBars(quiet)
        try:
            run_bench(out, cfg, progress=bars)
        finally:
            bars.close()
        say(quiet, f"accuracy study written to {out}/ (results.csv, summary.csv, results.md, "
                   f"figures); rerun the same command to resume an interrupted run")
    if study in ("poisoning", "all"):
        from .bench.poisoning import run_poisoning

        run_poisoning(out, datasets=pois_datasets, quick=quick, seed=seed, cache_dir=cache_dir)
        say(quiet, f"poisoning study written to {out}/ (poisoning.csv, poisoning_summary.csv, "
                   f"fig_poisoning.png)")
    if study == "all":
        from .bench.report import rewrite_report

        rewrite_report(out)
        say(quiet, f"results page: {out}/results.md")
    return 0


from . import _cli_data  # noqa: E402  (registers attribute, effect, report on the group)

_cli_data.register(app)

from . import _cli_answers  # noqa: E402  (registers cv, audit)

_cli_answers.register(app)


_PACKAGE = Path(__file__).resolve().parent


def _raised_by_leaveout(exc) -> bool:
    """True when leaveout itself raised ``exc`` (its checks of the user's input), not a library
    it called (which would be a bug in leaveout, shown with its traceback)."""
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str, code: int) -> int:
    click.echo(f"leaveout: error: {_one_line(message)}", err=True)
    return code


def run(argv=None) -> int:
    """Run the group with ``argv``; every outcome is an exit status, user mistakes are 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args if not a.startswith("-")), "")
    with warnings.catch_warnings(record=True) as caught:
        try:
            try:
                rv = app.main(args=args, prog_name="leaveout", standalone_mode=False)
            finally:
                for text in dict.fromkeys(_one_line(w.message) for w in caught):
                    click.echo(f"leaveout: warning: {text}", err=True)  # once, on one line
                caught.clear()
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message())
            return 2
        except click.UsageError as exc:
            hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
            return _error(exc.format_message() + hint, 2)
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except (click.Abort, KeyboardInterrupt):
            hint = "; rerun the same command to resume" if command == "bench" else ""
            click.echo(f"leaveout: interrupted{hint}", err=True)
            return 130
        except click.ClickException as exc:
            return _error(exc.format_message(), exc.exit_code)
        except UserError as exc:
            return _error(str(exc), 2)
        except OSError as exc:
            where = f" to {exc.filename}" if exc.filename else ""
            return _error(f"cannot write{where}: {exc.strerror or exc}", 1)
        except (ValueError, TypeError, ImportError) as exc:
            if not _raised_by_leaveout(exc):
                raise  # a bug, not a user mistake: keep the traceback
            return _error(str(exc), 2)
    return 0 if rv is None else int(rv)
