"""Finding a task by its external task id, the one lookup that makes exactly-once possible.

KLING_API.md leaves open which form a provider honours: the path (``GET <route>/<id>``), a query
(``GET <route>?external_task_id=<id>``), or a scan of the list route. :class:`Finder` tries them in
turn, the one that answered last time first. Once a form has answered for a kind, its "not found"
is believed; before that, every form must say not found. A form a provider does not understand
(a 1201, a 404 page, a list that ignores the filter) says nothing either way.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from kbatch.errors import ApiError, Outcome, TaskNotFound
from kbatch.provider.catalogue import PAGE_SIZE, JobKind, LookupForm
from kbatch.provider.wire import Task

#: How many list pages a lookup may scan when no direct form answers.
LOOKUP_PAGES = 4


class _Unsupported(enum.Enum):
    """A lookup form that cannot tell whether a task exists."""

    UNSUPPORTED = "unsupported"


_UNSUPPORTED = _Unsupported.UNSUPPORTED


class Finder:
    """Looks tasks up by external id through a client's calls (passed in: no client import)."""

    def __init__(
        self,
        *,
        get: Callable[[str, str], Awaitable[Any]],
        url: Callable[..., str],
        page: Callable[[JobKind, int], Awaitable[list[Task]]],
        parse: Callable[[Any, str], Task],
    ) -> None:
        self._get, self._url, self._page, self._parse = get, url, page, parse
        #: The lookup form that last answered, per kind: tried first next time.
        self.lookup: dict[JobKind, LookupForm] = {}

    async def find(self, kind: JobKind, external_task_id: str) -> Task | None:
        """The task created with this external task id, or None."""
        known = self.lookup.get(kind)
        if known is not None:
            found = await self._by(known, kind, external_task_id)
            if found is not _UNSUPPORTED:
                return found
            del self.lookup[kind]  # it answered before, but not now: ask every form again
        for form in LookupForm:
            if form is known:
                continue
            found = await self._by(form, kind, external_task_id)
            if isinstance(found, Task):
                self.lookup[kind] = form
                return found
        return None

    async def _by(
        self, form: LookupForm, kind: JobKind, external_id: str
    ) -> Task | _Unsupported | None:
        """The task, None if this form says there is none, _UNSUPPORTED if it cannot tell."""
        what = f"find {kind} task {external_id}"
        if form is LookupForm.LIST:
            for page in range(1, LOOKUP_PAGES + 1):
                tasks = await self._page(kind, page)
                found = next((t for t in tasks if t.external_task_id == external_id), None)
                if found is not None or len(tasks) < PAGE_SIZE:
                    return found
            return None
        if form is LookupForm.PATH:
            url = self._url(kind, external_id)
        else:
            url = self._url(kind) + "?" + urlencode({"external_task_id": external_id})
        try:
            data = await self._get(url, what)
        except TaskNotFound:
            return None
        except ApiError as exc:
            if exc.outcome in (Outcome.FAIL_JOB, Outcome.NOT_SERVED):
                return _UNSUPPORTED  # e.g. 1201, or a 404 page: this form is not understood
            raise
        items = data if isinstance(data, list) else [data]
        tasks = [self._parse(item, what) for item in items]
        matching = [t for t in tasks if t.external_task_id == external_id]
        if len(matching) != len(tasks):  # the filter was ignored: this form does not answer
            return _UNSUPPORTED
        return matching[0] if matching else None


__all__ = ["LOOKUP_PAGES", "Finder"]
