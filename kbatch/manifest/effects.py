"""Video effects (``POST /v1/videos/effects``): the scenes kbatch knows, and the rules of a job.

Kling adds and retires effects every month, so the scenes are data, not code: kbatch ships the
vendor page's list (``kbatch/data/effects.json``: 219 scenes, 204 with one image and 15 with two,
left then right), and a manifest extends or replaces it with its own file::

    effects:
      file: my-effects.json     # {"scenes": {"new_scene": {"images": 1}, ...}}
      replace: false            # the default: the file's scenes over kbatch's

A scene kbatch does not know is a **warning**, never a refusal (it may be newer than the list);
a known scene must get as many images as it takes (``image``, or ``images``: two); a retired
one (``magic_match_tree``, retired 2026-07-03 yet still on the page) is warned about.

>>> scenes = packaged()
>>> scenes["hug_pro"].images, scenes["magic_match_tree"].retired
(2, '2026-07-03')
>>> check_effects({"effect_scene": "hug_pro", "image": "a.png"})
[]
>>> [path for path, _ in scene_problems(scenes, {"effect_scene": "hug_pro", "image": "a.png"})[0]]
[('image',)]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kbatch.manifest.document import Document
from kbatch.manifest.issues import IssueLog
from kbatch.manifest.jobs import Job
from kbatch.provider.catalogue import JobKind

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]


@dataclass(frozen=True, slots=True)
class Scene:
    """One effect: how many images it takes (1, or 2 for the two-person effects), and the date
    Kling retired it, if it did."""

    name: str
    images: int = 1
    retired: str | None = None


Scenes = Mapping[str, Scene]


def parse_scenes(data: Any, source: str) -> dict[str, Scene]:
    """Scenes from a JSON document ``{"scenes": {name: {"images": 1|2, "retired": date}}}``;
    ValueError naming what is wrong."""
    scenes = data.get("scenes") if isinstance(data, dict) else None
    if not isinstance(scenes, dict):
        raise ValueError(f'{source}: expected {{"scenes": {{name: {{"images": 1 or 2}}}}}}')
    out = {}
    for name, entry in scenes.items():
        entry = entry if isinstance(entry, dict) else {}
        images, retired = entry.get("images", 1), entry.get("retired")
        if images not in (1, 2) or not (retired is None or isinstance(retired, str)):
            raise ValueError(f"{source}: scene {name!r}: images is 1 or 2, retired a date")
        out[str(name)] = Scene(str(name), images, retired)
    return out


@cache
def packaged() -> Scenes:
    """The scenes kbatch ships (the vendor's page, 2026-09)."""
    text = resources.files("kbatch").joinpath("data/effects.json").read_text("utf-8")
    return MappingProxyType(parse_scenes(json.loads(text), "kbatch/data/effects.json"))


def read_scenes(document: Document, base_dir: Path, log: IssueLog) -> Scenes:
    """The scenes a manifest's jobs are checked against: kbatch's, with ``effects:``'s file over
    them (or instead of them, with ``replace: true``). A broken file is an issue at its line."""
    given = document.data.get("effects") if isinstance(document.data, dict) else None
    if not isinstance(given, dict) or not isinstance(given.get("file"), str):
        return packaged()
    path = base_dir / given["file"]
    try:
        own = parse_scenes(json.loads(path.read_text("utf-8")), given["file"])
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.add(document.issue(("effects", "file"), f"cannot read the effects file: {reason}"))
        return packaged()
    if given.get("replace") is True:
        return MappingProxyType(own)
    return MappingProxyType({**packaged(), **own})


def check_effects(request: Mapping[str, Any]) -> list[Problem]:
    """The rules that need no scene list: a scene, and either ``image`` or ``images``."""
    problems: list[Problem] = []
    if not request.get("effect_scene"):
        problems.append(((), "missing required field 'effect_scene'"))
    if "image" in request and "images" in request:
        message = "cannot be used together with image: one image, or two in images"
        problems.append((("images",), message))
    elif "image" not in request and "images" not in request:
        problems.append(((), "missing the input: 'image' (one), or 'images' (two: left, right)"))
    return problems


def scene_problems(scenes: Scenes, request: Mapping[str, Any]) -> tuple[list[Problem], ...]:
    """The problems (errors, then warnings) of a request's scene against the known scenes."""
    name = str(request.get("effect_scene", ""))
    scene = scenes.get(name)
    if scene is None:
        message = (
            f"{name!r} is not among the {len(scenes)} scenes kbatch knows (it may be newer: "
            "add it with effects: {file: ...}); sent as written"
        )
        return [], [(("effect_scene",), message)]
    warnings: list[Problem] = []
    if scene.retired:
        message = f"{name} was retired by Kling on {scene.retired}; the task may be refused"
        warnings.append((("effect_scene",), message))
    given = 2 if "images" in request else 1
    if given == scene.images:
        return [], warnings
    if scene.images == 2:
        return [(("image",), f"{name} takes two images: images: [left, right]")], warnings
    return [(("images",), f"{name} takes one image: image: ...")], warnings


def admit(job: Job, scenes: Scenes, document: Document, log: IssueLog) -> bool:
    """Check a video-effects job against the scenes; its problems and warnings go to ``log``
    (at the field's line in the manifest, or the row's). Whether the job is sound."""
    if job.kind is not JobKind.VIDEO_EFFECTS:
        return True
    errors, warnings = scene_problems(scenes, job.request)
    for problems, say in ((errors, log.add), (warnings, log.warn)):
        for path, message in problems:
            where = ("jobs", job.origin.template, *path)
            issue = document.issue(where, message)
            if job.origin.row is not None:
                issue = type(issue)(job.origin.location, issue.path, message)
            say(issue)
    return not errors


__all__ = [
    "Scene",
    "Scenes",
    "admit",
    "check_effects",
    "packaged",
    "parse_scenes",
    "read_scenes",
    "scene_problems",
]
