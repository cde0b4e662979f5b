"""Exact refits for many removal sets: serially or in worker processes, with a progress bar.

Every refit — serial or parallel — runs the same function, :func:`refit_chunk`, on one BLAS
thread (:func:`~leaveout._threads.reproducible_blas`), so ``n_jobs`` never changes a bit of
the result, and results come back in the order of the sets.  Workers are joblib's processes
(joblib is optional, imported only for ``n_jobs > 1``); a failed refit is returned as a
message and warned about in the calling process, where warnings reach the user.

The bar (tqdm, optional, imported lazily) is shown by default only when stderr is a terminal
and tqdm is installed; ``progress=True`` asks for it whenever tqdm is installed, ``False``
never.  It counts refits reused from a checkpoint as done from the start and says how many.
"""

from __future__ import annotations

import logging
import numbers
import os
import sys

import numpy as np

from ._linear import LinearLoss
from ._threads import reproducible_blas
from .exceptions import ConvergenceError, SingularHessianError
from .fitting import exact_fit

logger = logging.getLogger(__name__)

#: Tasks per worker when refits run in parallel (smaller tasks balance better, larger ones
#: send the data less often).
TASKS_PER_WORKER = 4


def check_n_jobs(n_jobs) -> int:
    """Worker processes for ``n_jobs`` (None or 1: serial; -1: every core; -k: all but k − 1)."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None, a positive int or a negative int (-1: every "
                         f"core); got {n_jobs!r}.")
    cpus = os.cpu_count() or 1
    return int(n_jobs) if n_jobs > 0 else max(1, cpus + 1 + int(n_jobs))


def check_progress(progress):
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be None (a bar when stderr is a terminal), True or "
                        f"False; got {progress!r}.")
    return progress


def refit_chunk(problem, chunk):
    """``[(k, θ̂₋T or None, message)]`` for ``chunk`` = ``[(k, T)]``, warm-started at θ̂.

    ``problem`` = (design, family, y, weights, l2, solver, θ̂).  A refit without a unique finite
    optimum gives ``None`` and the reason.
    """
    design, family, y, weights, l2, solver, theta = problem
    out = []
    with reproducible_blas():
        for k, T in chunk:
            if T.size == 0:
                out.append((k, theta.copy(), None))
                continue
            keep = np.ones(design.n_samples, dtype=bool)
            keep[T] = False
            sub = LinearLoss(design.subset(keep), family, y[keep], weights[keep], l2)
            sub.solver = solver
            try:
                out.append((k, exact_fit(sub, theta, hessian="never").theta, None))
            except (SingularHessianError, ConvergenceError) as exc:
                out.append((k, None, str(exc)))
    return out


def run_refits(problem, todo, workers: int):
    """Yield the results of :func:`refit_chunk` for ``todo`` = ``[(k, T)]``, one set at a time
    (serial) or one task at a time (``workers > 1``), each task's sets in order."""
    if workers <= 1 or len(todo) <= 1:
        for item in todo:
            yield from refit_chunk(problem, [item])
        return
    try:
        from joblib import Parallel, delayed
    except ImportError:
        raise ImportError("n_jobs > 1 runs refits in parallel with joblib, which is not "
                          "installed: pip install joblib (or leave n_jobs=None).") from None
    workers = min(workers, len(todo))
    n_tasks = min(len(todo), workers * TASKS_PER_WORKER)
    bounds = np.linspace(0, len(todo), n_tasks + 1).astype(int)
    tasks = [todo[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    logger.info("retrain: %d refits in %d tasks on %d worker processes", len(todo),
                len(tasks), workers)
    parallel = Parallel(n_jobs=workers, return_as="generator")
    for part in parallel(delayed(refit_chunk)(problem, t) for t in tasks):
        yield from part


class Progress:
    """A tqdm bar over ``total`` refits, ``reused`` of them done from the start, or nothing."""

    def __init__(self, total: int, reused: int, progress=None):
        self.bar = None
        if progress is False or total == 0:
            return
        if progress is None and not _stderr_is_terminal():
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            if progress:
                logger.info("progress=True, but tqdm is not installed (pip install tqdm); "
                            "no progress bar")
            return
        self.bar = tqdm(total=total, initial=reused, desc="retrain", unit="refit",
                        file=sys.stderr, leave=False)
        if reused:
            self.bar.set_postfix_str(f"{reused} reused from checkpoint")

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
