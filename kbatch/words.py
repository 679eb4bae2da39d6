"""Words of kbatch's messages: a count with its noun in the right number.

>>> plural(1, "job"), plural(2, "slot"), plural(0, "file"), plural(1.0, "unit")
('1 job', '2 slots', '0 files', '1 unit')
"""

from __future__ import annotations


def plural(count: float, noun: str) -> str:
    """``count`` and ``noun``, singular for exactly one (``1 job``), plural otherwise."""
    return f"{count:g} {noun}{'' if count == 1 else 's'}"


def noun(count: float, word: str) -> str:
    """The noun alone, in the number ``count`` asks for: ``job`` or ``jobs``."""
    return word if count == 1 else f"{word}s"


__all__ = ["noun", "plural"]
