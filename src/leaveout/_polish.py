"""How far polishing moved an adopted model, and what that says about it.

An adopted model is polished by Newton steps to the exact optimum on the X, y, sample_weight
given to the Attributor.  A model that stopped a little early moves a little (a
:class:`~leaveout.PolishWarning` above :data:`POLISH_WARN`); one that moves by more than
:data:`POLISH_ERROR` (relative) was not fitted on these data — another X (rescaled, other
columns or rows), other labels or weights, or a solver stopped far from its optimum — and its
"polish" is a refit of another model.  That raises :class:`~leaveout.ModelMismatchError`
unless the Attributor is built with ``refit_ok=True``.
"""

from __future__ import annotations

from ._warn import warn
from .exceptions import ModelMismatchError, PolishWarning

#: Relative parameter change by the polish above which a PolishWarning is emitted.
POLISH_WARN = 1e-4
#: Relative parameter change above which the adopted model is taken not to be fitted on the
#: data given (ModelMismatchError unless ``refit_ok=True``).  Converged fits move by 1e-12 to
#: 1e-5 (scikit-learn's default tolerances); the mismatches this guards against move by O(1):
#: 2.5 for a model fitted on X * 10, 0.5 for LogisticRegression(max_iter=1).
POLISH_ERROR = 0.1


def check_polish(source: str, shift: float, finite: bool, refit_ok: bool) -> None:
    """Warn or raise about the relative polish shift ``shift`` of the model from ``source``."""
    if not finite:
        what = (f"The {source}'s parameters contain NaN or inf, so it cannot be polished; "
                f"it was refitted from scratch on these X, y, sample_weight")
    elif shift > POLISH_WARN:
        what = (f"Polishing the {source} to the exact optimum on these X, y, sample_weight "
                f"moved its parameters by {shift:.2e} (relative)")
    else:
        return
    if shift > POLISH_ERROR and not refit_ok:
        raise ModelMismatchError(
            f"{what}, more than {POLISH_ERROR:g}: the model does not look fitted on these X, y, "
            f"sample_weight. Pass the data it was fitted on (same rows, columns, scaling, "
            f"labels and weights); if it stopped early, refit it with a larger max_iter / "
            f"smaller tol. To attribute the refitted optimum anyway, pass refit_ok=True.")
    if not finite:
        warn(f"{what}.", PolishWarning)
    elif source != "leaveout.GLM":
        warn(f"{what}. It had probably stopped early (raise max_iter / lower tol), or X, y, "
             f"sample_weight differ from what it was fitted on. Effects are computed at the "
             f"polished optimum.", PolishWarning)
    else:
        warn(f"{what}: the GLM is not at the optimum for these data — was it fitted on other "
             f"data? Effects are computed at the optimum for the data given here.",
             PolishWarning)
