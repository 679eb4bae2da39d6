"""What the record kinds make, read from a task's result (issue 31, slice "records").

An element (``task_result.elements[]``) and a voice (``task_result.voices[]``) make no file of
their own but an id other jobs take (``element_list[].element_id``, ``voice_id``): each is a
*record*, kept as a small JSON file (its id, its name, and its trial file's URL) whose content
travels in the result's URL as a ``data:`` URL, so that the state and the download need nothing
new; the trial file (a voice's ``trial_url``, an element's voice's) is a second result of the
same index, variant ``trial``, downloaded beside it. Subject views (``images[]{url_1, url_2,
url_3}``, kling-image-common-subject-completion.md) are three images, indexed 0 to 2.

Pure functions over the task's JSON: :mod:`kbatch.provider.wire` builds its ``Media`` from them.

>>> [made[:2] for made in records({"voices": [{"voice_id": "v1", "voice_name": "Ann",
...                                            "trial_url": "https://cdn/t.mp3"}]})]
[('voice', 0), ('audio', 0)]
>>> views({"url_1": "https://a/1.png", "url_2": "https://a/2.png", "url_3": "https://a/3.png"}, 0)
[(0, 'https://a/1.png'), (1, 'https://a/2.png'), (2, 'https://a/3.png')]
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

#: How a record's content is written as its result's URL.
RECORD_PREFIX = "data:application/json;base64,"
#: The variant of a record's trial file.
TRIAL = "trial"
#: Subject views' URL fields, in order.
VIEW_KEYS = ("url_1", "url_2", "url_3")

#: (media kind, index, url, made id, variant)
Made = tuple[str, int, str, str | None, str]


def record_url(record: Mapping[str, Any]) -> str:
    """A record as the URL its result carries.

    >>> record_bytes(record_url({"voice_id": "v1"}))
    b'{\\n  "voice_id": "v1"\\n}\\n'
    """
    data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return RECORD_PREFIX + base64.b64encode(data).decode("ascii")


def record_bytes(url: str) -> bytes | None:
    """The JSON file a record's URL holds; None when the URL is not a record's."""
    if not url.startswith(RECORD_PREFIX):
        return None
    try:
        return base64.b64decode(url.removeprefix(RECORD_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return None


def is_record(url: str | None) -> bool:
    return url is not None and record_bytes(url) is not None


def records(result: Mapping[str, Any]) -> Iterator[Made]:
    """The elements and voices of a task's result: a record each, and its trial file."""
    for key, kind in (("elements", "element"), ("voices", "voice")):
        items = result.get(key)
        for position, item in enumerate(items if isinstance(items, list) else ()):
            if not isinstance(item, Mapping) or item.get(f"{kind}_id") in (None, ""):
                raise ValueError(f"task_result.{key}[{position}] has no {kind}_id")
            made_id = str(item[f"{kind}_id"])
            record: dict[str, Any] = {f"{kind}_id": made_id, "name": item.get(f"{kind}_name", "")}
            if kind == "element":
                record["description"] = item.get("element_description", "")
                voice = item.get("element_voice_info")
                bound = voice.get("voice_id") if isinstance(voice, Mapping) else None
                record["voice_id"] = None if bound in (None, "") else str(bound)
            record["trial_url"] = trial_url(item, kind)
            if record["trial_url"]:  # a variant of the record's result (outcomes.media_rows)
                record["trial_file"] = f"{position}.{TRIAL}.{extension(record['trial_url'])}"
            yield kind, position, record_url(record), made_id, ""
            if record["trial_url"]:
                yield "audio", position, record["trial_url"], None, TRIAL


def trial_url(item: Mapping[str, Any], kind: str) -> str | None:
    """The trial file's URL of an element or voice item (a task's or a preset's): a voice's
    own ``trial_url``, an element's voice's (``element_voice_info.trial_url``); None if none.

    >>> trial_url({"element_voice_info": {"trial_url": "https://cdn/t.mp3"}}, "element")
    'https://cdn/t.mp3'
    """
    voice = item.get("element_voice_info") if kind == "element" else item
    trial = voice.get("trial_url") if isinstance(voice, Mapping) else None
    return trial if isinstance(trial, str) and trial else None


def extension(url: str) -> str:
    """A trial file's extension, from its URL (mp3 when it says none).

    >>> extension("https://cdn/x/trial.wav?sig=1"), extension("https://cdn/x/trial")
    ('wav', 'mp3')
    """
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return suffix if suffix in ("mp3", "wav", "m4a", "aac") else "mp3"


def views(item: Mapping[str, Any], position: int) -> list[tuple[int, str]]:
    """A subject-views item's images, as (index, url): item ``k``'s views are ``3k`` to
    ``3k + 2``. ValueError when one is missing. (The page shows one item, ``index`` "0-2"
    beside ``url_1`` to ``url_3``: ambiguous between one item of three views and three items;
    every URL of every item is read, and the graph counts the one item of the page's example.)"""
    out = []
    for number, key in enumerate(VIEW_KEYS):
        url = item.get(key)
        if not isinstance(url, str) or not url:
            raise ValueError(f"task_result.images[{position}] has no {key}")
        out.append((position * len(VIEW_KEYS) + number, url))
    return out


__all__ = [
    "RECORD_PREFIX",
    "TRIAL",
    "VIEW_KEYS",
    "Made",
    "extension",
    "is_record",
    "record_bytes",
    "record_url",
    "records",
    "trial_url",
    "views",
]
