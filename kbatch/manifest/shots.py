"""Multi-shot prompts as Kling's new API takes them: ``shot n, m, words; shot n, m, words;``.

The 3.0 family's pages (``kling-3.0-turbo-t2v.md``, ``kling-omni-3.0-i2v.md``, 2026-09) say: shots
separated by half-width semicolons; ``n`` the shot's number, 1 to 6 shots; ``m`` its length in
seconds, at least 1, the lengths summing to the video's; ``words`` its prompt, at most 512
characters. A prompt is taken as written in shots when it begins with ``shot 1,``-like text, and
is then read strictly: a shot Kling would misread costs a video that is not what was asked for.

>>> [shot.words for shot in read_shots("shot 1, 2, a cat wakes; shot 2, 3, it yawns;")]
['a cat wakes', 'it yawns']
>>> read_shots("a cat, in two shots") is None
True
>>> read_shots("shot 1, two, a cat;")
Traceback (most recent call last):
...
ValueError: shot 1 is not "shot n, m, words;" (n and m whole numbers): "shot 1, two, a cat;"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kbatch.manifest.issues import show

MAX_SHOTS = 6
MIN_SECONDS = 1
MAX_WORDS = 512
_STARTS = re.compile(r"\s*shot\s+[0-9]+\s*,", re.IGNORECASE)
_SHOT = re.compile(r"\s*shot\s+([0-9]+)\s*,\s*([0-9]+)\s*,\s*(.*\S)\s*", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Shot:
    """One shot of a prompt: its number, its length in seconds, its words."""

    number: int
    seconds: int
    words: str


def written_in_shots(prompt: object) -> bool:
    """Whether a prompt is written in shots (begins like ``shot 1,``)."""
    return isinstance(prompt, str) and _STARTS.match(prompt) is not None


def read_shots(prompt: str) -> list[Shot] | None:
    """The shots of a prompt written in shots; None for a prompt that is not; ValueError
    naming the first shot that does not read as ``shot n, m, words;``."""
    if not written_in_shots(prompt):
        return None
    parts = prompt.split(";")
    if parts[-1].strip():
        raise ValueError(f"the last shot does not end with ';': {show(parts[-1].strip())}")
    shots: list[Shot] = []
    for position, part in enumerate(parts[:-1], start=1):
        match = _SHOT.fullmatch(part)
        if match is None:
            raise ValueError(
                f'shot {position} is not "shot n, m, words;" (n and m whole numbers): '
                f"{show(part.strip() + ';')}"
            )
        shots.append(Shot(int(match.group(1)), int(match.group(2)), match.group(3)))
    return shots


def shot_problems(shots: Sequence[Shot], duration: int) -> list[str]:
    """What is wrong with a prompt's shots for a video of ``duration`` seconds.

    >>> shot_problems([Shot(1, 2, "a"), Shot(2, 2, "b")], 5)
    ['the shots last 4 s in all; the video lasts 5 s']
    """
    problems: list[str] = []
    if not 1 <= len(shots) <= MAX_SHOTS:
        problems.append(f"has {len(shots)} shots; Kling takes 1 to {MAX_SHOTS}")
    numbers = [shot.number for shot in shots]
    if numbers != list(range(1, len(shots) + 1)):
        listed = ", ".join(map(str, numbers))
        problems.append(f"numbers its shots {listed}; number them 1, 2, ... in order")
    for shot in shots:
        if shot.seconds < MIN_SECONDS:
            problems.append(f"shot {shot.number} lasts {shot.seconds} s; each lasts at least 1 s")
        if len(shot.words) > MAX_WORDS:
            problems.append(
                f"shot {shot.number}'s words are {len(shot.words)} characters long; "
                f"Kling takes at most {MAX_WORDS}"
            )
    total = sum(shot.seconds for shot in shots)
    if total != duration:
        problems.append(f"the shots last {total} s in all; the video lasts {duration} s")
    return problems


__all__ = ["MAX_SHOTS", "MAX_WORDS", "Shot", "read_shots", "shot_problems", "written_in_shots"]
