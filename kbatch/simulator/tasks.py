"""The simulator's tasks: their lives over time, the parallel-task slots they hold, their cost.

A task is ``submitted`` for the first quarter of its time, then ``processing``, then ``succeed``
(or ``failed`` when asked). Time comes from a clock that tests can drive by hand
(:class:`ManualClock`), so no test waits for a task in real time.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.provider.wire import TaskStatus
from kbatch.simulator import prices
from kbatch.simulator.rules import Request

#: A prompt containing this makes the task fail; one containing UNSAFE is refused with 1301.
FAIL = "sim:fail"
UNSAFE = "sim:unsafe"
#: A prompt containing this makes the first task with that prompt fail, and later ones succeed.
FLAKY = "sim:flaky"
#: A prompt containing this makes the task succeed with an empty result URL (as seen at Kling).
EMPTY_URL = "sim:empty-url"


#: Cash per unit by currency: USD is the pricing page's list price ($0.14 a unit); the pages
#: give no CNY price, so the simulator's is an assumption of its own.
CASH_PER_UNIT: dict[str, float] = {"USD": 0.14, "CNY": 1.0}


@dataclass(frozen=True, slots=True)
class Payment:
    """How the simulated account pays for a task: ``units`` from its resource pack, ``cash``
    from its balance (``currency``, ``cash_type`` balance or test_balance), or ``split``: half
    the units from the pack, the rest in cash."""

    how: str = "units"
    currency: str = "USD"
    cash_type: str = "balance"

    def parts(self, units: float) -> tuple[float, float | None]:
        """The units from the pack, and the cash (None: none) of a task priced ``units``.

        >>> Payment("split").parts(4.0)
        (2.0, 0.28)
        """
        if self.how == "units" or units <= 0:
            return units, None
        paid = units / 2 if self.how == "split" else 0.0
        return paid, round((units - paid) * CASH_PER_UNIT.get(self.currency, 1.0), 4)


class ManualClock:
    """A clock that moves only when told: ``clock.advance(5)``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SimTask:
    task_id: str
    kind: JobKind
    request: Request
    external_task_id: str | None
    started: float  # clock seconds
    started_ms: int  # wall-clock milliseconds, as the API reports
    seconds: float
    fail_message: str | None
    callback_url: str | None = None
    charged: bool = True  # its answers say what it cost (SimulatorConfig.charges)
    payment: Payment = Payment()
    #: When a client was first told the task had finished (clock seconds): the task log.
    seen_finished: float | None = None

    @property
    def slots(self) -> int:
        return self.request.n if PACK[self.kind] is PackType.IMAGE else 1

    def status(self, now: float) -> TaskStatus:
        age = now - self.started
        if age >= self.seconds:
            return TaskStatus.FAILED if self.fail_message else TaskStatus.SUCCEED
        return TaskStatus.SUBMITTED if age < self.seconds / 4 else TaskStatus.PROCESSING

    @property
    def path(self) -> str | None:
        """The new API's ``capability/model`` the task was made on; None: an old route."""
        path = self.request.fields.get("path")
        return str(path) if path else None

    def units(self) -> str:
        """Units charged, at the vendor's prices (:mod:`prices`): nothing for a failed task."""
        if self.fail_message:
            return "0"
        fields = self.request.fields
        if self.path is not None:
            model = self.path.partition("/")[2]
            rate = prices.per_second(model, str(fields["feature"]), str(fields["resolution"]))
            return prices.amount(rate * int(str(fields["duration"])))
        if PACK[self.kind] is PackType.VIDEO and self.kind is not JobKind.VIDEO_EFFECTS:
            return prices.legacy_video(fields)
        return prices.own_kind(self.kind, fields, self.request.n)

    def billing(self) -> list[dict[str, Any]]:
        """The new API's ``billing[]`` of a finished task: units of its pack, cash, or both
        (a failed task is charged nothing: an empty list)."""
        units, cash = self.payment.parts(float(self.units()))
        pack = PACK[self.kind].value
        bills: list[dict[str, Any]] = []
        if units > 0 or cash is None:
            bills.append(
                {"charge_type": "unit", "amount": prices.amount(units), "package_type": pack}
            )
        if cash is not None:
            bills.append(
                {
                    "charge_type": "cash",
                    "amount": str(cash),
                    "cash_type": self.payment.cash_type,
                    "currency": self.payment.currency,
                    "list_price": str(cash),
                }
            )
        return bills if self.charged and not self.fail_message else []

    def media_names(self) -> list[str]:
        """The result files, and their watermarked copies when watermark_info asked for them."""
        names = ["0.mp4"] if PACK[self.kind] is PackType.VIDEO else []
        names += [f"{index}.png" for index in range(self.request.n)] if not names else []
        if self.watermarked:
            names += [name.replace(".", ".watermark.", 1) for name in names]
        return names

    @property
    def watermarked(self) -> bool:
        info = self.request.fields.get("watermark_info")
        return isinstance(info, dict) and info.get("enabled") is True

    def to_json(self, now: float, base_url: str) -> dict[str, Any]:
        status = self.status(now)
        elapsed = min(now - self.started, self.seconds)
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "task_status": status.value,
            "task_status_msg": (self.fail_message or "") if status is TaskStatus.FAILED else "",
            "task_info": (
                {"external_task_id": self.external_task_id} if self.external_task_id else {}
            ),
            "created_at": self.started_ms,
            "updated_at": self.started_ms + int(max(elapsed, 0) * 1000),
            "task_result": {},
        }
        if status.finished and self.charged:
            units, cash = self.payment.parts(float(self.units()))
            out["final_unit_deduction"] = prices.amount(units)
            if cash is not None:
                out["final_balance_deduction"] = {"quota": str(cash), "list_price": str(cash)}
        if status is TaskStatus.SUCCEED:
            out["task_result"] = self._result(base_url)
        return out

    def _result(self, base_url: str) -> dict[str, Any]:
        names = [name for name in self.media_names() if ".watermark." not in name]
        empty = EMPTY_URL in str(self.request.fields.get("prompt", ""))
        items = []
        for index, name in enumerate(names):
            url = "" if empty else f"{base_url}/media/{self.task_id}/{name}"
            marked = name.replace(".", ".watermark.", 1)
            watermark = f"{base_url}/media/{self.task_id}/{marked}" if self.watermarked else ""
            items.append({"index": index, "url": url, "watermark_url": watermark})
        if self.kind is JobKind.OMNI_IMAGE:  # a series' images are its series_images
            series = self.request.fields.get("result_type") == "series"
            return {
                "result_type": "series" if series else "single",
                "images": [] if series else items,
                "series_images": items if series else [],
            }
        if PACK[self.kind] is not PackType.VIDEO:
            return {"images": items}
        video = {"id": f"{self.task_id}-v0", "url": items[0]["url"]}
        video["duration"] = str(self.request.fields.get("duration", "5"))
        if self.watermarked:
            video["watermark_url"] = items[0]["watermark_url"]
        return {"videos": [video]}


@dataclass(frozen=True, slots=True)
class TaskLife:
    """One line of the task log: when a task was created and finished at the simulator, and
    when a client was first told it had finished (None: never), in clock seconds."""

    task_id: str
    kind: JobKind
    created: float
    finished: float
    seen: float | None

    @property
    def lag(self) -> float | None:
        """How long the finished task went unnoticed."""
        return None if self.seen is None else self.seen - self.finished


@dataclass
class TaskStore:
    """Every task the simulator made, the slots in use, and the external ids taken."""

    clock: Callable[[], float] = time.monotonic
    task_seconds: float = 3.0
    duration_shape: str = "fixed"
    duration_spread: float = 0.0
    parallel_limit: int = 20
    fail_rate: float = 0.0
    charges: bool = True
    payment: Payment = Payment()
    seed: int | None = None
    tasks: dict[str, SimTask] = field(default_factory=dict)
    by_external: dict[str, str] = field(default_factory=dict)
    _active: dict[str, SimTask] = field(default_factory=dict)
    _blobs: dict[bytes, bytes] = field(default_factory=dict)
    #: Task ids start at a random place, so that two simulators (two runs) never hand out the
    #: same id, as Kling never does.
    _ids: Iterator[int] = field(
        default_factory=lambda: itertools.count(1 + secrets.randbelow(10**14) * 1000)
    )
    _flaked: set[str] = field(default_factory=set)  # FLAKY prompts whose first task failed
    #: Slots held by tasks this store does not keep (the building blocks', :mod:`made`).
    held_elsewhere: Callable[[PackType], int] = field(default=lambda pack: 0)
    _random: random.Random = field(init=False)
    _wall_offset: float = field(init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._wall_offset = time.time() - self.clock()

    def wall_ms(self) -> int:
        """Now on the wall clock, in ms, as the API reports times."""
        return int((self.clock() + self._wall_offset) * 1000)

    def slots_in_use(self, pack: PackType) -> int:
        now = self.clock()
        for task_id in [t for t, task in self._active.items() if task.status(now).finished]:
            del self._active[task_id]
        held = sum(task.slots for task in self._active.values() if PACK[task.kind] is pack)
        return held + self.held_elsewhere(pack)

    def has_room(self, request: Request) -> bool:
        needed = request.n if PACK[request.kind] is PackType.IMAGE else 1
        return self.slots_in_use(PACK[request.kind]) + needed <= self.parallel_limit

    def add(self, request: Request) -> SimTask:
        request = self._interned(request)
        now = self.clock()
        prompt = str(request.fields.get("prompt", ""))
        fail = None
        if FAIL in prompt:
            fail = f"The task failed as asked (the prompt contains {FAIL})"
        elif FLAKY in prompt and prompt not in self._flaked:
            self._flaked.add(prompt)
            fail = f"The task failed once as asked (the prompt contains {FLAKY})"
        elif self.fail_rate and self._random.random() < self.fail_rate:
            fail = "The generation failed (simulated at random)"
        external = request.fields.get("external_task_id")
        task = SimTask(
            task_id=f"{860000000000000000 + next(self._ids)}",
            kind=request.kind,
            request=request,
            external_task_id=external,
            started=now,
            started_ms=int((now + self._wall_offset) * 1000),
            seconds=self.draw_seconds(),
            fail_message=fail,
            callback_url=request.fields.get("callback_url") or None,
            charged=self.charges,
            payment=self.payment,
        )
        self.tasks[task.task_id] = task
        self._active[task.task_id] = task
        if external:
            self.by_external[external] = task.task_id
        return task

    def draw_seconds(self) -> float:
        """A task's duration, from the configured distribution (seeded: runs repeat)."""
        base, spread = self.task_seconds, self.duration_spread
        if self.duration_shape == "uniform":
            return base * self._random.uniform(1 - spread, 1 + spread)
        if self.duration_shape == "lognormal":
            return base * math.exp(self._random.gauss(0.0, spread))
        return base

    def shown(self, tasks: Iterable[SimTask], now: float) -> None:
        """Note which finished tasks a client has now been told about (the task log)."""
        for task in tasks:
            if task.seen_finished is None and task.status(now).finished:
                task.seen_finished = now

    def task_log(self) -> list[TaskLife]:
        """Every task the simulator knows, in the order they were created."""
        return [
            TaskLife(t.task_id, t.kind, t.started, t.started + t.seconds, t.seen_finished)
            for t in self.tasks.values()
        ]

    def restore(self, task: SimTask) -> None:
        """Take back a task an earlier simulator made (it runs on, and holds its slots)."""
        self.tasks[task.task_id] = task
        self._active[task.task_id] = task
        if task.external_task_id:
            self.by_external[task.external_task_id] = task.task_id

    def forget(self, task_id: str) -> None:
        """Know the task no more (expired, or lost by a gateway): gets, lists and lookups by
        external id answer "not found". It still runs and holds its slot, as at Kling."""
        task = self.tasks.pop(task_id, None)
        if task is not None and task.external_task_id:
            self.by_external.pop(task.external_task_id, None)

    def _interned(self, request: Request) -> Request:
        """The request with each input image's bytes shared by every task that sent the same
        picture: a soak of 100k tasks from one 10 MB image holds 10 MB, not 1 TB."""
        pictures = {
            key: picture
            if picture.data is None
            else replace(
                picture,
                data=self._blobs.setdefault(hashlib.sha256(picture.data).digest(), picture.data),
            )
            for key, picture in request.pictures.items()
        }
        return replace(request, pictures=pictures)

    def find(
        self, kind: JobKind | frozenset[JobKind], key: str, *, by_external: bool
    ) -> SimTask | None:
        """A task of the kind (or of any of the kinds a shared route serves) by id."""
        kinds = kind if isinstance(kind, frozenset) else frozenset({kind})
        task = self.tasks.get(key)
        if task is None and by_external:
            task = self.tasks.get(self.by_external.get(key, ""))
        found = task is not None and task.kind in kinds and task.path is None
        return task if found else None

    def page(self, kind: JobKind | frozenset[JobKind], number: int, size: int) -> list[SimTask]:
        """One page of a kind's tasks (or of the kinds a shared route serves), newest first."""
        kinds = kind if isinstance(kind, frozenset) else frozenset({kind})
        newest_first = (
            t for t in reversed(self.tasks.values()) if t.kind in kinds and t.path is None
        )
        return list(itertools.islice(newest_first, (number - 1) * size, number * size))
