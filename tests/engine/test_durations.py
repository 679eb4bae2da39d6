"""When a task is looked at next: sparse before tasks like it can end, dense around their end,
growing with age past it; learnt per key, borrowed from the kind, or from earlier runs."""

from __future__ import annotations

import functools

import pytest

from kbatch.engine.durations import DENSE, Durations, Window, batched_pause, next_pause
from kbatch.provider.catalogue import JobKind

VIDEO = JobKind.IMAGE2VIDEO
KEY = (VIDEO, "kling-v2-master", "std", 5)


def learnt(*seconds: float, key: object = KEY) -> Durations:
    durations = Durations()
    for value in seconds:
        durations.observe(VIDEO, key, value)
    return durations


def test_a_key_with_a_few_finished_tasks_has_its_own_window() -> None:
    window = learnt(100, 110, 120).expect(VIDEO, KEY)
    assert (window.low, window.typical) == (90.0, 110)
    assert window.high == pytest.approx(132.0)


def test_before_the_window_the_task_is_looked_at_sparsely() -> None:
    window = Window(90.0, 110.0, 132.0)
    assert next_pause(age=0, window=window, floor=1, longest=60) == 60  # at most poll_max
    assert next_pause(age=50, window=window, floor=1, longest=60) == 40  # just at its start


def test_inside_the_window_the_pause_is_a_small_share_of_the_typical_duration() -> None:
    window = Window(90.0, 110.0, 132.0)
    assert next_pause(age=95, window=window, floor=1, longest=60) == pytest.approx(DENSE * 110)
    assert next_pause(age=95, window=window, floor=5, longest=60) == 5  # never under the floor


def test_past_the_window_or_with_nothing_learnt_the_pause_grows_with_age() -> None:
    window = Window(90.0, 110.0, 132.0)
    assert next_pause(age=300, window=window, floor=1, longest=60) == pytest.approx(9.0)
    assert next_pause(age=5000, window=window, floor=1, longest=60) == 60
    unknown = Durations().expect(VIDEO, KEY)
    assert unknown.high is None and unknown.low == 20.0  # the video prior
    assert next_pause(age=100, window=unknown, floor=1, longest=60) == pytest.approx(3.0)


def test_a_new_key_borrows_its_kinds_window_widened() -> None:
    durations = learnt(100, 110, 120, key="other")
    window = durations.expect(VIDEO, KEY)
    assert window.low == pytest.approx(45.0) and window.high is None


def test_earlier_runs_give_a_first_guess_until_this_run_learns() -> None:
    durations = Durations()
    durations.remember(KEY, 130.0)
    assert durations.expect(VIDEO, KEY).low == pytest.approx(0.5 * 0.9 * 130)
    for value in (100, 101, 102):
        durations.observe(VIDEO, KEY, value)
    assert durations.expect(VIDEO, KEY).low == pytest.approx(90.0)


def test_a_batched_task_is_asked_about_at_the_pace_from_the_moment_it_could_be_ending() -> None:
    """One request answers for every batched task: no sparser while its end may come (in the
    window, or later than any seen), and only one look at the window's start before it."""
    window = Window(low=100.0, typical=150.0, high=200.0)
    pause = functools.partial(batched_pause, window=window, floor=1.0, longest=60.0)
    assert pause(age=10.0) == 60.0  # 90 s before the window: the longest pause
    assert pause(age=70.0) == 30.0  # to the window's start
    assert pause(age=99.8) == 1.0  # never more often than the pace
    assert pause(age=150.0) == pause(age=400.0) == 1.0  # in the window, and past it
    # where next_pause would wait 2% of the typical duration, then 3% of the age
    assert next_pause(age=150.0, window=window, floor=1.0, longest=60.0) == 3.0
