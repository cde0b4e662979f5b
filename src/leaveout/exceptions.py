"""Warnings and errors raised by leaveout.

Errors for user mistakes are plain :class:`ValueError` / :class:`TypeError` (or the subclasses
below, which are also ``ValueError``) so that ``except ValueError`` keeps working.  Warnings are
for inputs that are legal but whose results a user must treat with care; each message says what
to distrust.
"""

from __future__ import annotations


class LeaveoutWarning(UserWarning):
    """Base class of every warning leaveout emits."""


class PolishWarning(LeaveoutWarning):
    """Polishing an adopted model to the exact optimum moved its parameters noticeably."""


class HighLeverageWarning(LeaveoutWarning):
    """Some rows have leverage close to 1: removing them (nearly) makes the problem singular."""


class DegenerateRemovalWarning(LeaveoutWarning):
    """Removing the rows leaves data with no finite optimum (e.g. only one class): the exact
    effect is infinite, so every estimate of it is returned as NaN."""


class SetLeverageWarning(LeaveoutWarning):
    """A removal set's set leverage is large (see ``Attributor.set_leverage``): the additive
    estimates ``"if"`` and ``"rif"`` ignore the interactions within it and are unreliable;
    ``"newton"`` accounts for them."""


class NewtonStepsWarning(LeaveoutWarning):
    """The refined Newton iteration (``effects("newton", steps=k)``, k > 1) did not contract
    for some sets: their estimates may be far from retraining; use ``method="retrain"``."""


class IllConditionedWarning(LeaveoutWarning):
    """The Hessian is ill-conditioned: effects may carry large rounding errors."""


class ConvergenceError(ValueError):
    """The exact fit found no finite optimum (e.g. separable data with ``l2=0``)."""


class ModelMismatchError(ValueError):
    """Polishing an adopted model moved it by more than ``leaveout._polish.POLISH_ERROR``
    (relative): it does not look fitted on the X, y, sample_weight given (pass
    ``refit_ok=True`` to the Attributor to attribute the refitted optimum anyway)."""


class SingularHessianError(ValueError):
    """The Hessian of the objective is singular: the optimum is not unique."""


class DaskClusterError(RuntimeError):
    """The Dask cluster went away (scheduler unreachable, no workers left, workers dying)
    while leaveout waited for a result; nothing was returned."""


class ProblemTooLargeError(ValueError, MemoryError):
    """The chosen computation would need more memory than is available (or an output too large
    to return); the message gives the estimate and the alternative.  A ``ValueError`` (a choice
    the user can change) and a ``MemoryError``."""
