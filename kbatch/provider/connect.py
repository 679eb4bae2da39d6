"""``connect()``: the provider of a run (:class:`~kbatch.provider.surfaces.Surfaces`: the /v1
routes, and Kling's new API when the provider serves it and its key is set), starting the built-in
simulator when the manifest asks for it. The clients themselves never know about the simulator.

::

    async with connect(manifest.provider) as provider:      # starts the simulator if asked
        target = provider.target(job.kind, job.request)
        task = await provider.create(target, job.request, external_task_id="kb-...")
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kbatch import images
from kbatch.provider.auth import NEW_API_PROVIDERS, api_key, credentials
from kbatch.provider.catalogue import ProviderName
from kbatch.provider.config import ProviderConfig
from kbatch.provider.paths import PathClient
from kbatch.provider.surfaces import Surfaces
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
) -> AsyncIterator[Surfaces]:
    """The provider of a run: the /v1 client, with Kling's new API beside it when the provider
    serves it (Kling, the simulator) and its key is set (``KLING_API_KEY`` or
    ``provider.api_key_env``; the simulator needs none).

    For ``provider: simulator`` the built-in simulator is started in this process on a loopback
    port (with ``simulator`` as its config, if given) and stopped afterwards. Without a config,
    it keeps its tasks in ``simulator_tasks`` across runs, as Kling keeps them.
    """
    provider = config.spec
    env = os.environ if env is None else env
    auth = credentials(provider, env, config.api_key_env)
    key = api_key(provider, env, config.api_key_env) if provider.name in NEW_API_PROVIDERS else None
    async with AsyncExitStack() as stack:
        base_url = config.base_url
        if provider.name is ProviderName.SIMULATOR and not base_url:
            # Imported here: the simulator (aiohttp.web, PyAV) loads only when it is used.
            from kbatch.simulator import SimulatorConfig, running

            if simulator is None and simulator_tasks is not None:
                simulator = SimulatorConfig(tasks_file=simulator_tasks)
            base_url = (await stack.enter_async_context(running(simulator))).url
        encode = images.Encoder()  # one cache of encoded images for both APIs
        paths = None
        if key is not None:
            root = base_url or provider.base_url  # the new API is at the host's root
            samples = base_url if provider.name is ProviderName.SIMULATOR else None
            paths = PathClient(
                base_url=root, auth=key, timeouts=timeouts, encode=encode, samples=samples
            )
        client = Surfaces(
            provider,
            api=config.api,
            paths=paths,
            auth=auth,
            base_url=base_url,
            prefix=config.prefix,
            dialect=config.dialect,
            routes=config.routes,
            timeouts=timeouts,
            encode=encode,
        )
        yield await stack.enter_async_context(client)


__all__ = ["connect"]
