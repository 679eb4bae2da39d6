"""The reliability suites add up what they tried; pytest prints the figures at the end of the run
(the "reliability figures" section), so every CI log carries them."""

from __future__ import annotations

from collections import Counter

import pytest

#: Filled by the suites: kills landed, faults injected by kind, bad inputs tried, and the
#: failures of the promises (duplicates, lost files, leaked secrets, escaped paths), all 0.
FIGURES: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, count in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{name}: {count}")
