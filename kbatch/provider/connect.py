"""``connect()``: a client for a manifest's provider, starting the built-in simulator when the
manifest asks for it. The client itself never knows about the simulator.

::

    async with connect(manifest.provider) as client:        # starts the simulator if asked
        task = await client.create(job.kind, job.request, external_task_id="kb-...")
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kbatch.provider.auth import credentials
from kbatch.provider.catalogue import ProviderName
from kbatch.provider.client import Client
from kbatch.provider.config import ProviderConfig
from kbatch.provider.transport import Timeouts

if TYPE_CHECKING:
    from kbatch.simulator import SimulatorConfig


@asynccontextmanager
async def connect(
    config: ProviderConfig,
    *,
    env: Mapping[str, str] | None = None,
    timeouts: Timeouts = Timeouts(),
    simulator: SimulatorConfig | None = None,
    simulator_tasks: Path | None = None,
) -> AsyncIterator[Client]:
    """A client for a manifest's provider.

    For ``provider: simulator`` the built-in simulator is started in this process on a loopback
    port (with ``simulator`` as its config, if given) and stopped afterwards. Without a config,
    it keeps its tasks in ``simulator_tasks`` across runs, as Kling keeps them.
    """
    provider = config.spec
    auth = credentials(provider, os.environ if env is None else env, config.api_key_env)
    async with AsyncExitStack() as stack:
        base_url = config.base_url
        if provider.name is ProviderName.SIMULATOR and not base_url:
            # Imported here: the simulator (aiohttp.web, PyAV) loads only when it is used.
            from kbatch.simulator import SimulatorConfig, running

            if simulator is None and simulator_tasks is not None:
                simulator = SimulatorConfig(tasks_file=simulator_tasks)
            base_url = (await stack.enter_async_context(running(simulator))).url
        client = Client(
            provider,
            auth=auth,
            base_url=base_url,
            prefix=config.prefix,
            dialect=config.dialect,
            routes=config.routes,
            timeouts=timeouts,
        )
        yield await stack.enter_async_context(client)


__all__ = ["connect"]
