"""Registry of loss families.

>>> from leaveout.families import get_family, FAMILIES
>>> get_family("logistic").name
'logistic'
"""

from __future__ import annotations

from ._base import Family
from .logistic import Logistic
from .poisson import Poisson
from .squared import Squared

FAMILIES: dict[str, Family] = {f.name: f for f in (Logistic(), Squared(), Poisson())}


def get_family(family: str | Family) -> Family:
    """Return the family registered under ``family`` (or ``family`` itself if already one).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the valid names.
    TypeError
        If ``family`` is neither a string nor a :class:`Family`.
    """
    if isinstance(family, Family):
        return family
    if not isinstance(family, str):
        raise TypeError(
            f"family must be a string, one of {sorted(FAMILIES)}; got {type(family).__name__}."
        )
    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(
            f"Unknown family {family!r}. Valid families are: {', '.join(sorted(FAMILIES))}."
        ) from None


__all__ = ["FAMILIES", "Family", "get_family"]
