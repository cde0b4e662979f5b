"""Warnings attributed to the user's line, however deep inside leaveout they are raised."""

from __future__ import annotations

import functools
import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: Frames between leaveout's own that are not the user's: ``functools.cached_property``.
_PASS_THROUGH = {os.path.abspath(functools.__file__)}


def _internal(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE_DIR) or path in _PASS_THROUGH


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` with the stack level of the first caller outside the leaveout package.

    A fixed ``stacklevel`` is wrong for any call path but one; with the default "once per
    location" filter a wrong location also hides later warnings raised from other user lines.
    """
    level = 2
    frame = sys._getframe(1)
    while frame is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
