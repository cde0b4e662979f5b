"""leaveout: how a fitted model, its predictions and its losses change when training rows are left out.

Public names: :func:`fit`, :class:`GLM`, :class:`GLMCV`, :class:`Attributor`, :mod:`targets`, :data:`__version__`.
"""

from . import targets
from .attributor import Attributor
from .cv import GLMCV
from .estimators import METHODS
from .exceptions import (
    ConvergenceError,
    DaskClusterError,
    DegenerateRemovalWarning,
    HighLeverageWarning,
    IllConditionedWarning,
    LeaveoutWarning,
    ModelMismatchError,
    NewtonStepsWarning,
    PolishWarning,
    ProblemTooLargeError,
    SetLeverageWarning,
    SingularHessianError,
)
from .families import FAMILIES
from .fitting import GLM, fit

__version__ = "0.1.0"

__all__ = [
    "Attributor",
    "ConvergenceError",
    "DaskClusterError",
    "DegenerateRemovalWarning",
    "FAMILIES",
    "GLM",
    "GLMCV",
    "HighLeverageWarning",
    "IllConditionedWarning",
    "LeaveoutWarning",
    "METHODS",
    "ModelMismatchError",
    "NewtonStepsWarning",
    "PolishWarning",
    "ProblemTooLargeError",
    "SetLeverageWarning",
    "SingularHessianError",
    "fit",
    "targets",
    "__version__",
]
