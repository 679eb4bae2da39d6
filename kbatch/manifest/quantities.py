"""Quantities as a manifest writes them: durations with a unit, and budgets per pack."""

from __future__ import annotations

import re
from collections.abc import Mapping

from kbatch.provider.catalogue import PackType

_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)\s*")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def budgets(written: float | Mapping[str, float] | None) -> dict[PackType, float]:
    """``budget_units`` per pack: one number is the budget of each pack.

    >>> budgets(500)
    {<PackType.IMAGE: 'image'>: 500.0, <PackType.VIDEO: 'video'>: 500.0}
    >>> budgets({"video": 50})
    {<PackType.VIDEO: 'video'>: 50.0}
    """
    if written is None:
        return {}
    if isinstance(written, Mapping):
        return {PackType(pack): float(units) for pack, units in written.items()}
    return {pack: float(written) for pack in PackType}


def parse_duration(value: float | int | str) -> float:
    """Seconds from a number, or from a string with a unit: ``250ms``, ``10s``, ``30m``, ``2h``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.fullmatch(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


__all__ = ["budgets", "parse_duration"]
