"""What the engine asks of a provider: the seam between a run and whoever runs its tasks.

The engine (:mod:`kbatch.engine`) depends on :class:`Provider` and nothing else of the provider
package's HTTP code: Kling's ``/v1`` routes, the CometAPI and AnyAPI gateways
(:class:`kbatch.provider.client.Client`) and Kling's path-addressed API are implementations.

::

    task = await provider.create(kind, request, external_task_id="kb-...")   # ExternalIdTaken
    task = await provider.find(kind, "kb-...")             # None: no task has that external id
    found = await provider.statuses(["t1", "t2"])           # one request for many tasks
    async with provider.download(task.media[0].url) as body: ...

Every failure is an :class:`~kbatch.errors.ApiError` whose class says what to do; a create
refused because its external id is taken raises :class:`~kbatch.errors.ExternalIdTaken` (the
create landed before: look the task up and adopt it). Messages never hold a credential.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Container, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from kbatch.provider.catalogue import JobKind
from kbatch.provider.wire import Task


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the list route: the tasks asked for, and how many the page held in all."""

    tasks: list[Task]
    size: int


@dataclass(frozen=True, slots=True)
class Download:
    """A streamed result: its body in chunks, from byte ``offset`` of a file of ``total`` bytes
    (None when the server did not say). ``length`` is what this answer declares it carries."""

    length: int | None
    content_type: str
    chunks: AsyncIterator[bytes]
    offset: int = 0
    total: int | None = None


class Provider(Protocol):
    """Creates tasks, tells their status, finds a task by its external id, streams results."""

    #: What to check when the provider refuses the credentials: the variables this provider's
    #: auth reads (``COMETAPI_KEY``; ``KLING_API_KEY`` or ``KLING_ACCESS_KEY``/``..._SECRET_KEY``).
    credential_hint: str

    #: How many task ids one :meth:`statuses` request takes; 0 when the provider has no such
    #: query (status then comes from list pages and single gets).
    status_batch: int

    async def create(
        self, kind: JobKind, request: Mapping[str, Any], *, external_task_id: str
    ) -> Task:
        """Submit one task. OutcomeUnknown when it may have been created but no answer came;
        ExternalIdTaken when the provider says a task already has this external id."""
        ...

    async def get(self, kind: JobKind, task_id: str) -> Task:
        """One task by its task id; TaskNotFound if the provider knows none."""
        ...

    async def find(self, kind: JobKind, external_task_id: str) -> Task | None:
        """The task created with this external task id, or None when the provider has none."""
        ...

    async def page(
        self,
        kind: JobKind,
        *,
        page: int = 1,
        page_size: int = 500,
        only: Container[str] | None = None,
    ) -> Page:
        """One page of this kind's tasks, newest first (only those in ``only``, if given).
        An ApiError other than RetryLater/RunFatal means the provider does not list."""
        ...

    async def statuses(self, task_ids: Sequence[str]) -> list[Task]:
        """The tasks of these ids, in one request (at most :attr:`status_batch` of them); an id
        the provider does not know is absent from the answer. JobRejected when the provider
        refuses the batch as a whole (the caller halves it)."""
        ...

    def download(self, url: str, *, offset: int = 0) -> AbstractAsyncContextManager[Download]:
        """Stream a result file from byte ``offset`` (``Download.offset`` says where it starts).
        RetryLater on a lost connection or a truncated body; JobRejected when the file is gone."""
        ...


__all__ = ["Download", "Page", "Provider"]
