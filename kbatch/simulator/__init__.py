"""The built-in Kling simulator: the KLING_API.md contract on a loopback port (the ``/v1`` routes
and Kling's path-addressed API), accepting what Kling accepts and refusing what it refuses
(``SimulatorConfig(strict=True)``: stricter, for testing clients), with real media, tasks that
take time, prices, signed callbacks and fault injection.

::

    from kbatch.simulator import SimulatorConfig, running, Fault, Op

    async with running(SimulatorConfig(task_seconds=0)) as sim:
        sim.faults.script(Op.CREATE, Fault.TIMEOUT_AFTER_CREATE)
        ...                                  # point a client at sim.url

``kbatch simulator`` runs it as a standalone server.
"""

from __future__ import annotations

from kbatch.simulator.config import Exchange, SimulatorConfig
from kbatch.simulator.faults import Fault, FaultPlan, Op
from kbatch.simulator.server import Simulator, running
from kbatch.simulator.tasks import EMPTY_URL, FAIL, FLAKY, UNSAFE, ManualClock, TaskLife

__all__ = [
    "EMPTY_URL",
    "FAIL",
    "FLAKY",
    "UNSAFE",
    "Exchange",
    "Fault",
    "FaultPlan",
    "ManualClock",
    "Op",
    "Simulator",
    "SimulatorConfig",
    "TaskLife",
    "running",
]
