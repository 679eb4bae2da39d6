"""Kling's preset voices and elements (issue 31, slice "records"): what a user may name in
``voice_id`` (speech, ``voice_list``, ``element_voice_id``) and ``element_list`` without making
one first.

::

    async with connect(manifest.provider) as client:
        voices = await presets(client, PresetKind.VOICES)    # [Preset(id, name, trial_url, ...)]

``GET /v1/general/presets-voices`` (kling-2.6-voice-mgt.md: pageSize up to 1000) and ``GET
/v1/general/advanced-presets-elements`` (kling-omni-3.0-element-mgt.md: up to 500) answer a
page of task objects, each holding one voice (``task_result.voices[]``) or one element
(``task_result.elements[]``); the pages are read until one comes back short.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kbatch.provider.made import trial_url

#: The most pages read (a guard against a provider that repeats its last page).
MAX_PAGES = 100


class PresetKind(enum.StrEnum):
    VOICES = "voices"
    ELEMENTS = "elements"


@dataclass(frozen=True, slots=True)
class Listing:
    """Where one kind of preset is listed, and how its items are read."""

    route: str
    page_size: int
    key: str  # the list in task_result
    noun: str  # voice, element: the item's ``<noun>_id`` and ``<noun>_name``


LISTINGS: Mapping[PresetKind, Listing] = {
    PresetKind.VOICES: Listing("general/presets-voices", 1000, "voices", "voice"),
    PresetKind.ELEMENTS: Listing("general/advanced-presets-elements", 500, "elements", "element"),
}


@dataclass(frozen=True, slots=True)
class Preset:
    """One preset: its id (what a manifest names), name, and trial file's URL (a voice's, or
    the voice bound to an element's: ``element_voice_info.trial_url``)."""

    id: str
    name: str
    trial_url: str | None = None
    language: str | None = None  # a voice's, when given
    description: str | None = None  # an element's

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "trial_url": self.trial_url,
            "language": self.language,
            "description": self.description,
        }


class Asker(Protocol):
    """What :func:`presets` needs of a client (:meth:`kbatch.provider.client.Client.ask`)."""

    async def ask(self, route: str, query: Mapping[str, str | int], what: str) -> Any: ...


async def presets(client: Asker, kind: PresetKind) -> list[Preset]:
    """Every preset of ``kind``, page by page."""
    listing = LISTINGS[kind]
    found: list[Preset] = []
    for number in range(1, MAX_PAGES + 1):
        query = {"pageNum": number, "pageSize": listing.page_size}
        page = await client.ask(listing.route, query, f"list preset {kind}")
        items = page if isinstance(page, list) else []
        found += list(parse(items, listing))
        if len(items) < listing.page_size:
            break
    return found


def parse(items: list[Any], listing: Listing) -> Iterator[Preset]:
    """The presets of one page of task objects (items without an id are left out).

    >>> page = [{"task_result": {"voices": [{"voice_id": "v1", "voice_name": "Ann",
    ...          "trial_url": "https://x/t.mp3"}]}}]
    >>> list(parse(page, LISTINGS[PresetKind.VOICES]))[0].trial_url
    'https://x/t.mp3'
    """
    noun = listing.noun
    for item in items:
        result = item.get("task_result") if isinstance(item, Mapping) else None
        listed = result.get(listing.key) if isinstance(result, Mapping) else None
        for made in listed if isinstance(listed, list) else ():
            if not isinstance(made, Mapping) or made.get(f"{noun}_id") in (None, ""):
                continue
            trial = trial_url(made, noun)
            language = made.get("voice_language") or None
            description = made.get("element_description") or None
            yield Preset(
                str(made[f"{noun}_id"]),
                str(made.get(f"{noun}_name") or ""),
                trial,
                None if language is None else str(language),
                None if description is None else str(description),
            )


__all__ = ["LISTINGS", "Listing", "Preset", "PresetKind", "parse", "presets"]
