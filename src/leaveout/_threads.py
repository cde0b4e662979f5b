"""Results that do not depend on the number of BLAS threads.

OpenBLAS's level-3 routines (``gemm``, ``syrk``, ``trmm``, ``potrf``, ``trtri``) partition
their work by thread count, and their rounding changes with it: ``X.T @ X`` on 2 threads differs
from 1 thread in the last bits (measured with OpenBLAS 0.3.30/0.3.31).  leaveout therefore runs
every BLAS call of a fit or an attribution on one BLAS thread, and parallelises itself instead,
over row chunks whose boundaries depend on n alone, each chunk on as many workers as the BLAS had
threads, with every reduction (the Gram matrix) added in chunk order.  The same data give the
same bits whatever the thread count.

Thread counts are read and set through ``threadpoolctl`` (installed with scikit-learn).  Without
it the BLAS is left alone and results may differ in the last bits between thread counts.
"""

from __future__ import annotations

import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

#: threadpoolctl's controller of the loaded BLAS libraries; False when threadpoolctl is missing.
_controller = None
#: Chunk workers inside :func:`reproducible_blas` (0 outside it).
_workers = 0


def _blas_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            _controller = False
        else:
            _controller = ThreadpoolController().select(user_api="blas")
    return _controller


@contextmanager
def reproducible_blas():
    """Run the body with every BLAS library on one thread; chunk loops use the threads it had.

    Re-entrant: a nested use is free and keeps the outer thread count.
    """
    global _workers
    if _workers:
        yield
        return
    ctl = _blas_controller()
    threads = _blas_threads(ctl)
    try:
        if threads > 1:
            with ctl.limit(limits=1):
                _workers = threads
                yield
        else:
            _workers = 1
            yield
    finally:
        _workers = 0


def _blas_threads(ctl) -> int:
    """The most threads any of the controlled BLAS libraries has now (1 without threadpoolctl)."""
    if not ctl:
        return 1
    threads = 1
    for lib in ctl.lib_controllers:
        n = lib.get_num_threads()
        if n is not None and n > threads:
            threads = n
    return threads


def reproducible(fn):
    """Decorator: ``fn`` runs inside :func:`reproducible_blas`.

    The same as ``with reproducible_blas(): return fn(...)``, written out for the common cases
    (nested, or a BLAS already on one thread) so that a cheap call (a refined Newton step at a
    few hundred rows, ~70 µs) does not pay a context manager's microseconds twice.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _workers
        if _workers:
            return fn(*args, **kwargs)
        ctl = _blas_controller()
        if _blas_threads(ctl) > 1:
            with reproducible_blas():
                return fn(*args, **kwargs)
        _workers = 1
        try:
            return fn(*args, **kwargs)
        finally:
            _workers = 0
    return wrapper


def map_chunks(fn, slices) -> list:
    """``[fn(s) for s in slices]``, computed on the chunk workers (in order of the result).

    Each call must write only its own rows (or return its part): the result is then the same
    whichever worker computes which chunk.  Each runs in a copy of the caller's context, so the
    caller's ``np.errstate`` holds in the workers too (NumPy keeps it in a context variable).
    """
    slices = list(slices)
    workers = min(max(_workers, 1), len(slices))
    if workers <= 1:
        return [fn(s) for s in slices]
    runs = [contextvars.copy_context().run for _ in slices]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda run, s: run(fn, s), runs, slices))


def sum_chunks(fn, slices, out):
    """``out += fn(s)`` for each slice in order (a fixed order: the same bits on any workers).

    The parts are computed ``workers`` at a time, so at most that many are held at once.
    """
    slices = list(slices)
    step = max(_workers, 1)
    for start in range(0, len(slices), step):
        for part in map_chunks(fn, slices[start : start + step]):
            out += part
    return out
