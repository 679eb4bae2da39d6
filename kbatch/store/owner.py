"""Which state owns an output folder.

A state file is what makes a run pay for each job once: a run with another state (a new
``--state`` path) would pay for every job again and write its results into the same folders as
the first. So the first run to use an output folder writes ``.kbatch-state`` into it, naming its
state (the file, or a shared state's database without its password), and a run with another
state is refused there unless told to take the folder over.
"""

from __future__ import annotations

import json
from pathlib import Path

from kbatch.errors import ConfigError
from kbatch.store.location import StateLocation, locate

MARKER = ".kbatch-state"


def check(output_dir: Path, state: StateLocation, *, take: bool = False) -> None:
    """ConfigError if another state, which still exists, owns ``output_dir`` (unless ``take``).
    Made before the state file is opened, so that a refused run leaves nothing behind."""
    ours = state.identity
    owner = _owner(output_dir)
    exists = owner is not None and locate(output_dir, owner).exists()
    if owner and owner != ours and exists and not take:
        raise ConfigError(
            f"{output_dir} holds the results of the state {owner}; a run with the state "
            f"{ours} would pay for every job again and mix their files: run with that state "
            "(--state), give this manifest another output.dir, or pass --take-output to make "
            "this state the folder's owner"
        )


def claim(output_dir: Path, state: StateLocation) -> None:
    """Make ``state`` the owner of ``output_dir`` (after :func:`check`, under the lock)."""
    ours = state.identity
    if _owner(output_dir) != ours:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / MARKER).write_text(json.dumps({"state": ours}) + "\n", encoding="utf-8")


def _owner(output_dir: Path) -> str | None:
    try:
        owner = json.loads((output_dir / MARKER).read_text(encoding="utf-8")).get("state")
    except (OSError, ValueError, AttributeError):
        return None
    return str(owner) if owner else None


__all__ = ["MARKER", "check", "claim"]
