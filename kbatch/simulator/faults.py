"""Fault injection: by probability, and by script for tests that need one exact sequence.

::

    plan = FaultPlan(rates={Fault.RATE_LIMIT: 0.1}, seed=7)     # 10% of requests get 1302
    plan.script(Op.CREATE, Fault.RESET_AFTER)                    # the next create: task made,
                                                                 # then the connection dropped
    plan.script(Op.CREATE, 1102, times=2)                        # any Kling code, twice
    plan.not_served.add(JobKind.IMAGE_EXPAND)                    # that create route answers 404

A scripted fault is used before any random one. Each request draws at most one fault.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from kbatch.provider.catalogue import JobKind


class Op(enum.StrEnum):
    """What a request does; faults are aimed at one op or at any."""

    CREATE = "create"
    GET = "get"
    LIST = "list"
    DOWNLOAD = "download"
    ANY = "any"


class Fault(enum.StrEnum):
    RATE_LIMIT = "rate_limit"  # 429, code 1302, with Retry-After
    PARALLEL = "parallel"  # 429, code 1303
    SERVER_ERROR = "server_error"  # 500, code 5000
    MAINTENANCE = "maintenance"  # 503, code 5001
    TIMEOUT = "timeout"  # 504, code 5002, nothing created
    TIMEOUT_AFTER_CREATE = "timeout_after_create"  # the task is created, then 504, code 5002
    RESET_BEFORE = "reset_before"  # the connection is dropped before the request is read
    RESET_AFTER = "reset_after"  # the request is carried out, then the connection dropped
    SLOW = "slow"  # the answer is held back for slow_seconds
    HTML = "html"  # a 502 HTML error page from a "proxy"
    NOT_FOUND = "not_found"  # a 404 HTML page, as for a route not served
    REDIRECT = "redirect"  # a 301 to the home page
    TRUNCATE = "truncate"  # downloads only: half the body, then the connection dropped
    GARBLED = "garbled"  # the request is carried out, then answered 200 with JSON cut short


#: Faults that only make sense for some ops.
ONLY_FOR: Mapping[Fault, frozenset[Op]] = {
    Fault.TIMEOUT_AFTER_CREATE: frozenset({Op.CREATE}),
    Fault.TRUNCATE: frozenset({Op.DOWNLOAD}),
}
#: Faults a download may meet (it is served by a media host, not the API).
DOWNLOAD_FAULTS = frozenset(
    {Fault.TRUNCATE, Fault.RESET_BEFORE, Fault.RESET_AFTER, Fault.SLOW, Fault.HTML, Fault.NOT_FOUND}
)

Injected = Fault | int  # an int is any Kling error code, answered with its HTTP status


@dataclass
class _Scripted:
    op: Op
    fault: Injected
    times: int
    kind: JobKind | None


@dataclass
class FaultPlan:
    """Which faults to inject. ``rates`` are per-request probabilities (summing to at most 1)."""

    rates: dict[Fault, float] = field(default_factory=dict)
    seed: int | None = None
    not_served: set[JobKind] = field(default_factory=set)
    _script: list[_Scripted] = field(default_factory=list)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        total = sum(self.rates.values())
        if any(rate < 0 for rate in self.rates.values()) or total > 1 + 1e-9:
            raise ValueError(f"fault rates must be >= 0 and sum to at most 1, not {total:g}")
        self._random = random.Random(self.seed)

    def script(
        self, op: Op, fault: Injected, *, times: int = 1, kind: JobKind | None = None
    ) -> None:
        """Inject ``fault`` into the next ``times`` requests of ``op`` (of ``kind`` if given)."""
        self._script.append(_Scripted(op, fault, times, kind))

    @property
    def pending(self) -> int:
        """Scripted faults not used yet."""
        return sum(entry.times for entry in self._script)

    def draw(self, op: Op, kind: JobKind | None) -> Injected | None:
        """The fault for one request, if any: the first matching scripted one, else by chance."""
        for entry in self._script:
            if entry.op in (op, Op.ANY) and entry.kind in (None, kind):
                entry.times -= 1
                if entry.times <= 0:
                    self._script.remove(entry)
                return entry.fault
        if not self.rates:
            return None
        roll = self._random.random()
        for fault, rate in self.rates.items():
            roll -= rate
            if roll < 0:
                return fault if _applies(fault, op) else None
        return None


def _applies(fault: Fault, op: Op) -> bool:
    if op is Op.DOWNLOAD:
        return fault in DOWNLOAD_FAULTS
    allowed = ONLY_FOR.get(fault)
    return allowed is None or op in allowed
