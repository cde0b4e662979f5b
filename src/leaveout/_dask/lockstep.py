"""Iterations of many removal sets in lockstep, each round one pass over the blocks for all.

An iterative method written for one set at a time (the Newton fit of :mod:`leaveout.fitting`,
the chord refreshes of :mod:`leaveout._refine`) asks for a quantity that needs every row of the
data — on a Dask design, a pass over the blocks.  Here each set's iteration runs unchanged in
a client thread; its request (a point, p numbers) is held until every set of the group has
asked or finished, and then one pass answers all of them: per block, the quantity for each set
(its own rows masked), summed over the fixed tree of :func:`~leaveout._dask.compute.tree_sum`.
Passes cost max over the sets of their requests instead of the sum.

Which requests share a pass depends only on how many each set makes (the data), never on
thread timing, and the sets are placed in a pass by their position in the call: the same inputs
give the same bits.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


class Aborted(Exception):
    """The rounds stopped (a pass failed); the set's thread ends with no result."""


class Lockstep:
    """The rounds of one group of sets.

    Parameters
    ----------
    members : iterable of int
        The sets' positions in the call.
    answer : callable
        ``answer(batch, requests)`` → one result per request: ``batch`` the positions (in
        increasing order) of the sets asking this round, ``requests`` what they asked.  Runs in
        the coordinating thread (the caller's, which sees its Dask client).
    """

    def __init__(self, members, answer):
        self._answer = answer
        self._cond = threading.Condition()
        self._active = set(members)
        self._pending: dict = {}
        self._results: dict = {}
        self._error: BaseException | None = None
        self._local = threading.local()
        self.n_rounds = 0

    def run(self, k: int, work):
        """``work()`` as set k's iteration; set k leaves the rounds when it returns."""
        self._local.k = k
        try:
            return work()
        finally:
            with self._cond:
                self._active.discard(k)
                self._cond.notify_all()

    @property
    def member(self) -> int:
        """The position of the set whose thread is calling."""
        return self._local.k

    def request(self, payload):
        """Join the next round with ``payload``; its answer once the round's pass is done."""
        k = self._local.k
        with self._cond:
            self._pending[k] = payload
            self._cond.notify_all()
            self._cond.wait_for(lambda: k in self._results or self._error is not None)
            if k not in self._results:
                raise Aborted
            return self._results.pop(k)

    def coordinate(self) -> None:
        """Run rounds until every set has finished (the calling thread).

        Whatever stops it (a failed pass, a ``KeyboardInterrupt`` while waiting) stops every
        set's thread too, so none is left waiting for a round.
        """
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._pending.keys() == self._active)
                    if not self._active:
                        return
                    batch = sorted(self._pending)
                    requests = [self._pending.pop(k) for k in batch]
                results = self._answer(batch, requests)
                self.n_rounds += 1
                with self._cond:
                    self._results.update(zip(batch, results))
                    self._cond.notify_all()
        except BaseException as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()
            raise


def run_group(rounds: Lockstep, work: dict) -> dict:
    """Run ``work[k]()`` for every member k in its own thread, in lockstep; {k: result}.

    A set's exception is raised here (the first by position) once every set has finished; a
    failed pass stops every set and is raised.
    """
    with ThreadPoolExecutor(max(len(work), 1)) as pool:
        futures = {k: pool.submit(rounds.run, k, fn) for k, fn in work.items()}
        rounds.coordinate()
        return {k: fut.result() for k, fut in futures.items()}
