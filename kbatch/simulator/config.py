"""How the simulator is set up (:class:`SimulatorConfig`), and what it logs of each request."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kbatch.provider.catalogue import JobKind, LookupForm
from kbatch.simulator.faults import FaultPlan, Injected, Op

GATEWAY_PREFIX = "/kling/v1"


@dataclass
class SimulatorConfig:
    """How the simulator behaves. Keys are for checking what a client sends; with none set, any
    Bearer token is accepted (on the new path-addressed API: any token but a JWT; with
    ``api_key`` set, that key only)."""

    task_seconds: float = 3.0
    #: How task durations spread around task_seconds: "fixed", "uniform" (task_seconds times
    #: 1 - spread to 1 + spread) or "lognormal" (median task_seconds, sigma spread).
    duration_shape: str = "fixed"
    duration_spread: float = 0.0
    parallel_limit: int = 20
    fail_rate: float = 0.0
    api_key: str | None = field(default=None, repr=False)
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    prefixes: tuple[str, ...] = ("/v1", GATEWAY_PREFIX)
    lookup_forms: frozenset[LookupForm] = frozenset({LookupForm.PATH, LookupForm.QUERY})
    slow_seconds: float = 30.0
    latency: tuple[float, float] = (0.0, 0.0)  # every answer waits a uniform draw from this
    retry_after: float = 1.0
    faults: FaultPlan = field(default_factory=FaultPlan)
    clock: Callable[[], float] = time.monotonic
    seed: int | None = None
    videos: bool = True  # make real MP4s when PyAV is installed
    #: As CometAPI documents its image queries: under /kling/v1 an image task is known only at
    #: images/generations/{id}; its own route answers task_not_exist.
    gateway_image_queries: bool = False
    #: Where to keep the tasks across processes (the in-process simulator keeps them beside the
    #: state); None: forgotten when the simulator stops.
    tasks_file: Path | None = None
    #: The share of callbacks sent twice, as gateways do.
    callback_duplicates: float = 0.0
    log_size: int = 10_000
    #: How long a task's result URLs answer after it ends, as Kling keeps results (30 days).
    results_kept: float = 30 * 86400.0
    #: Seconds added to the clock when a result URL is asked for: ages results for tests
    #: (``age=31 * 86400``: every result made so far is cleared).
    age: float = 0.0
    #: Keep today's refusals (unknown fields, empty optional strings, ...) for testing clients;
    #: by default the simulator accepts what Kling accepts and ignores what Kling ignores.
    strict: bool = False
    #: A Standard Webhooks secret (``whsec_...``): every callback is then signed.
    webhook_secret: str | None = field(default=None, repr=False)
    #: Most ids one ``GET /tasks`` may ask for (the pages state none); more: 400, code 1201.
    task_ids_limit: int = 50
    #: The account's resource packs: units bought, by pack type (``GET /account/costs``).
    pack_units: dict[str, float] = field(
        default_factory=lambda: {"video": 10_000.0, "image": 10_000.0}
    )
    #: ``GET /account/costs`` allows one request per this many seconds (QPS <= 1).
    costs_interval: float = 1.0
    #: Say what each finished task cost (``final_unit_deduction``, ``billing[]``); False: say
    #: nothing, as a gateway that does not pass the charge on.
    charges: bool = True
    #: How the account pays: "units" from its packs, "cash" from its balance, "split" (half
    #: of each); cash in ``currency`` from the ``cash_type`` balance (balance, test_balance).
    payment: str = "units"
    currency: str = "USD"
    cash_type: str = "balance"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the simulator answered (status None: the connection was dropped)."""

    method: str
    path: str
    op: Op
    kind: JobKind | None
    status: int | None
    code: int | str | None
    fault: Injected | None


__all__ = ["GATEWAY_PREFIX", "Exchange", "SimulatorConfig"]
