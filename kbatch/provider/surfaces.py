"""One provider for a run over both of Kling's APIs: the ``/v1`` routes (and the gateways) and,
when the run has its key, the path-addressed API.

::

    async with connect(manifest.provider) as provider:          # a Surfaces
        target = provider.target(job.kind, job.request)         # a kind, or a ModelPath
        task = await provider.create(target, job.request, external_task_id="kb-...")
        if provider.status_batch(target):                        # 0 on the /v1 routes
            tasks = await provider.statuses(target, ids)

Each call goes where its target says: a :class:`~kbatch.provider.protocol.ModelPath` to the
:class:`~kbatch.provider.paths.PathClient`, a kind to the ``/v1`` :class:`Client` this class
extends (the engine of today is typed to it; every ``/v1`` request is exactly the one it sent
before). Where a job goes is :func:`kbatch.provider.models.choose` with the manifest's
``provider.api``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kbatch.errors import RouteNotServed
from kbatch.provider import models
from kbatch.provider.catalogue import JobKind
from kbatch.provider.client import Client
from kbatch.provider.config import Api
from kbatch.provider.paths import PathClient
from kbatch.provider.protocol import ModelPath, Target
from kbatch.provider.wire import Task


class Surfaces(Client):
    """The ``/v1`` client, plus Kling's new API for the targets that go there. Use as
    ``async with Surfaces(...) as provider``; it opens and closes both."""

    def __init__(
        self, *args: Any, api: Api = Api.AUTO, paths: PathClient | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.api = api
        #: The new API's client; None when the provider does not serve it or no key is set.
        self.paths = paths

    @property
    def credential_hint(self) -> str:
        """The variables of the credentials in use: the /v1 routes', and the new API's key
        where it is another."""
        legacy = self._auth.source
        if self.paths is None or self.paths.credential_hint == legacy:
            return legacy
        return f"{legacy} (the /v1 routes) or {self.paths.credential_hint} (Kling's new API)"

    async def __aenter__(self) -> Surfaces:
        await super().__aenter__()
        if self.paths is not None:
            await self.paths.__aenter__()
        return self

    async def aclose(self) -> None:
        if self.paths is not None:
            await self.paths.aclose()
        await super().aclose()

    def target(self, kind: JobKind, request: Mapping[str, Any]) -> Target:
        return models.choose(kind, request, self.api)

    def status_batch(self, target: object) -> int:
        if isinstance(target, ModelPath) and self.paths is not None:
            return self.paths.status_batch(target)
        return 0

    async def statuses(self, target: object, task_ids: Sequence[str]) -> list[Task]:
        if isinstance(target, ModelPath):
            return await self._new(target).statuses(target, task_ids)
        return await super().statuses(target, task_ids)

    async def create(
        self, target: Target, request: Mapping[str, Any], *, external_task_id: str
    ) -> Task:
        if isinstance(target, ModelPath):
            return await self._new(target).create(
                target, request, external_task_id=external_task_id
            )
        return await super().create(target, _legacy(request), external_task_id=external_task_id)

    async def get(self, target: Target, task_id: str) -> Task:
        if isinstance(target, ModelPath):
            return await self._new(target).get(target, task_id)
        return await super().get(target, task_id)

    async def find(self, target: Target, external_task_id: str) -> Task | None:
        if isinstance(target, ModelPath):
            return await self._new(target).find(target, external_task_id)
        return await super().find(target, external_task_id)

    def _new(self, target: ModelPath) -> PathClient:
        if self.paths is None:
            raise RouteNotServed(
                f"{target} is on Kling's new API, which {self.provider.name} does not serve "
                "here (it takes an API key only: set KLING_API_KEY or provider.api_key_env)"
            )
        return self.paths


def _legacy(request: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request as the /v1 routes spell it: a model named the new API's way (``kling-3.0``)
    gets its ``model_name`` (``kling-v3``); any other request is sent as it is."""
    name = request.get("model_name")
    if not isinstance(name, str) or models.legacy_name(name) == name:
        return request
    return {**request, "model_name": models.legacy_name(name)}


__all__ = ["Surfaces"]
