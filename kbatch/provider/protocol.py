"""What the engine asks of a provider: the seam between a run and whoever runs its tasks.

The engine (:mod:`kbatch.engine`) depends on :class:`Provider` and nothing else of the provider
package's HTTP code: Kling's ``/v1`` routes, the CometAPI and AnyAPI gateways
(:class:`kbatch.provider.client.Client`) and Kling's path-addressed API are implementations.

::

    target = provider.target(job.kind, job.request)        # a kind, or a model's path
    task = await provider.create(target, request, external_task_id="kb-...")   # ExternalIdTaken
    task = await provider.find(target, "kb-...")           # None: no task has that external id
    if provider.status_batch(target):                       # many tasks in one request
        found = await provider.statuses(target, ["t1", "t2"])
    async with provider.download(task.media[0].url) as body: ...

A job's *target* says where it goes: its :class:`~kbatch.provider.catalogue.JobKind` on Kling's
``/v1`` routes and the gateways, or a :class:`ModelPath` on Kling's path-addressed API (the model in
the path). The provider decides it from the job (the manifest's ``provider.api``, and the models
that live on one API only); the engine keeps it per job and hands it back on every call.

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
from kbatch.provider.faces import FaceSession
from kbatch.provider.wire import Task


@dataclass(frozen=True, slots=True)
class ModelPath:
    """A job sent to Kling's path-addressed API: its kind, and the path that serves it
    (``text-to-video/kling-3.0-turbo``)."""

    kind: JobKind
    path: str

    def __str__(self) -> str:
        return self.path


#: Where a job goes: a kind on the ``/v1`` routes (and gateways), or a model's path.
Target = JobKind | ModelPath


def kind_of(target: Target) -> JobKind:
    """The kind of job a target serves.

    >>> kind_of(ModelPath(JobKind.TEXT2VIDEO, "text-to-video/kling-3.0-turbo"))
    <JobKind.TEXT2VIDEO: 'text2video'>
    """
    return target.kind if isinstance(target, ModelPath) else target


#: How a target on the ``/v1`` routes is written in the state (a path is written as itself).
LEGACY_TEXT = "v1"


def target_text(target: Target) -> str:
    """Where an attempt was sent, as the state keeps it: ``v1`` for the kind's ``/v1`` route,
    else the new API's path.

    >>> path = ModelPath(JobKind.TEXT2VIDEO, "text-to-video/kling-3.0")
    >>> target_text(JobKind.TEXT2VIDEO), target_text(path)
    ('v1', 'text-to-video/kling-3.0')
    """
    return target.path if isinstance(target, ModelPath) else LEGACY_TEXT


def parse_target(kind: JobKind, text: str) -> Target:
    """The target a job of ``kind`` was sent to, from :func:`target_text`.

    >>> parse_target(JobKind.TEXT2VIDEO, "v1")
    <JobKind.TEXT2VIDEO: 'text2video'>
    >>> parse_target(JobKind.TEXT2VIDEO, "text-to-video/kling-3.0").path
    'text-to-video/kling-3.0'
    """
    return kind if text == LEGACY_TEXT else ModelPath(kind, text)


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

    @property
    def credential_hint(self) -> str:
        """What to check when the provider refuses the credentials: the variables its auth
        reads (``COMETAPI_KEY``; ``KLING_API_KEY`` or ``KLING_ACCESS_KEY/KLING_SECRET_KEY``)."""
        ...

    def target(self, kind: JobKind, request: Mapping[str, Any]) -> Target:
        """Where a job of this kind with this request goes (which API, which path)."""
        ...

    def status_batch(self, target: Target) -> int:
        """How many task ids one :meth:`statuses` request takes for this target; 0 when there
        is no such query (status then comes from list pages and single gets)."""
        ...

    async def create(
        self, target: Target, request: Mapping[str, Any], *, external_task_id: str
    ) -> Task:
        """Submit one task. OutcomeUnknown when it may have been created but no answer came;
        ExternalIdTaken when the provider says a task already has this external id."""
        ...

    async def get(self, target: Target, task_id: str) -> Task:
        """One task by its task id; TaskNotFound if the provider knows none."""
        ...

    async def find(self, target: Target, external_task_id: str) -> Task | None:
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
        """One page of this kind's tasks on the ``/v1`` routes, newest first (only those in
        ``only``, if given). An ApiError other than RetryLater/RunFatal means it does not list."""
        ...

    async def statuses(self, target: Target, task_ids: Sequence[str]) -> list[Task]:
        """The tasks of these ids, in one request (at most :meth:`status_batch` of them); an
        id the provider does not know is absent from the answer. JobRejected when the provider
        refuses the batch as a whole (the caller halves it)."""
        ...

    async def identify_face(self, request: Mapping[str, Any]) -> FaceSession:
        """Lip-sync's first step: the faces of the job's video, answered at once (no task).
        OutcomeUnknown when it may have been made but no answer came."""
        ...

    def download(self, url: str, *, offset: int = 0) -> AbstractAsyncContextManager[Download]:
        """Stream a result file from byte ``offset`` (``Download.offset`` says where it starts).
        RetryLater on a lost connection or a truncated body; JobRejected when the file is gone."""
        ...


__all__ = [
    "LEGACY_TEXT",
    "Download",
    "ModelPath",
    "Page",
    "Provider",
    "Target",
    "kind_of",
    "parse_target",
    "target_text",
]
