"""Argument checks shared by the ``utils`` modules, so that every helper words the same mistake the same way."""

from __future__ import annotations

import numbers


def whole_number(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is a whole number (Python or NumPy, not a bool) >= ``minimum``.

    Otherwise raise ``ValueError`` naming the argument, what is allowed and what was given, e.g.
    ``requests must be a whole number >= 1, got 0``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)
