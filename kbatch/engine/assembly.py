"""Builds a run's context in one place: its services, its state, and how its jobs are admitted
(privately, or by claims in a state other runners share)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from kbatch.engine.admission import Admission, Private
from kbatch.engine.batch import Batch
from kbatch.engine.clock import Clock
from kbatch.engine.context import RunContext, RunState
from kbatch.engine.downloads import Syncer
from kbatch.engine.events import Event, EventName, OnEvent
from kbatch.engine.pacing import Budget, Slots
from kbatch.engine.polling import Poller
from kbatch.engine.recorder import Recorder
from kbatch.engine.retry import Backoff
from kbatch.engine.sharing import Crew, Sharing
from kbatch.engine.stops import Stops
from kbatch.provider.catalogue import PackType
from kbatch.provider.protocol import Provider
from kbatch.store.records import JobRow


def assemble(
    batch: Batch,
    provider: Provider,
    on_event: OnEvent,
    *,
    clock: Clock,
    adopted: Callable[[JobRow, str], None],
    lost: Callable[[str], None],
) -> RunContext:
    """The context of one run of ``batch``. ``adopted`` and ``lost`` are told of jobs a shared
    state hands this runner (a lapsed lease) or takes from it."""
    options, limits = batch.options, batch.manifest.limits
    rng = random.Random(options.seed)
    in_flight = options.max_in_flight or limits.max_in_flight
    state = RunState()

    def emit(name: EventName, job: str | None, message: str) -> None:
        on_event(Event(name, job, message, time=clock.time(), data={}))

    stops = Stops(emit, credential_hint=provider.credential_hint)
    recorder = Recorder(batch.store, batch.rows, batch.ids)
    slots = {pack: Slots(in_flight) for pack in PackType}
    budgets = Budget.per_pack(options.budgets(limits.budget_units), batch.store.units())
    rate_step = 60.0 / limits.submit_per_minute
    admission: Admission = Private(recorder, slots, clock)
    shared = batch.store.shared
    if shared is not None:
        crew = Crew(recorder, stops, state, budgets, options, clock, emit, rate_step)
        limit = slots[PackType.VIDEO].limit
        admission = Sharing(shared, crew, slot_limit=limit, adopted=adopted, lost=lost)
    batch.store.on_failure = stops.unwritten  # a queued transition was not written
    return RunContext(
        manifest=batch.manifest,
        options=options,
        provider=provider,
        clock=clock,
        recorder=recorder,
        stops=stops,
        slots=slots,
        budgets=budgets,
        limiter=AsyncLimiter(1, rate_step),
        poller=_poller(batch, provider, stops, rng, clock),
        rng=rng,
        syncer=Syncer(batch.manifest.output.dir),
        on_event=on_event,
        admission=admission,
        downloads=asyncio.Semaphore(options.pacing.downloads),
        keys=batch.keys,
        targets=batch.targets,
        host=socket.gethostname(),
        state=state,
    )


def _poller(
    batch: Batch, provider: Provider, stops: Stops, rng: random.Random, clock: Clock
) -> Poller:
    limits, pacing = batch.manifest.limits, batch.options.pacing
    return Poller(
        provider,
        floor=limits.poll_interval or batch.manifest.provider.spec.poll_floor,
        longest=limits.poll_max,
        durations=batch.durations(),
        backoff=Backoff(pacing, rng=rng, clock=clock),
        clock=clock,
        on_trouble=stops.trouble,
        list_pages=pacing.list_pages,
    )


__all__ = ["assemble"]
