"""Which API a job goes to: every video model, both spellings, both values of provider.api."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbatch.manifest.loader import load_manifest
from kbatch.provider import models
from kbatch.provider.catalogue import NEW_API_KINDS, JobKind
from kbatch.provider.config import Api
from kbatch.provider.models import choose, legacy_name, normalise
from kbatch.provider.protocol import ModelPath
from tests.conftest import EXAMPLES

T2V, I2V = JobKind.TEXT2VIDEO, JobKind.IMAGE2VIDEO

#: (/v1 spelling, new spelling): the pairs the vendor's pages and changelog name.
SPELLINGS = [
    ("kling-v3", "kling-3.0"),
    ("kling-v2-6", "kling-2.6"),
    ("kling-v2-5-turbo", "kling-2.5-turbo"),
    ("kling-v3-omni", "kling-3.0-omni"),
    ("kling-video-o1", "kling-o1"),
]
LEGACY_ONLY = ["kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1"]


@pytest.mark.parametrize(("old", "new"), SPELLINGS)
def test_both_spellings_are_one_model(old: str, new: str) -> None:
    assert models.model(old) is models.model(new) is not None
    assert normalise(new) == normalise(old) == old == legacy_name(new)


def test_turbo_has_one_spelling_and_unknown_names_stay_as_given() -> None:
    assert normalise("kling-3.0-turbo") == legacy_name("kling-3.0-turbo") == "kling-3.0-turbo"
    assert normalise("kling-v9") == "kling-v9" and models.model("kling-v9") is None


# (model, kind) -> its target with api auto (the default), with api new; None: the kind's /v1
# route. With api legacy every job stays on its /v1 route (the checks refuse 3.0 Turbo there).
EXPECTED = {
    ("kling-3.0-turbo", T2V): ("text-to-video/kling-3.0-turbo",) * 2,
    ("kling-3.0-turbo", I2V): ("image-to-video/kling-3.0-turbo",) * 2,
    ("kling-v3", T2V): (None, "text-to-video/kling-3.0"),
    ("kling-v3", I2V): (None, "image-to-video/kling-3.0"),
    ("kling-3.0", T2V): (None, "text-to-video/kling-3.0"),
    ("kling-v2-6", T2V): (None, "text-to-video/kling-2.6"),
    ("kling-2.6", I2V): (None, "image-to-video/kling-2.6"),
    ("kling-v2-5-turbo", T2V): (None, "text-to-video/kling-2.5-turbo"),
    ("kling-2.5-turbo", I2V): (None, "image-to-video/kling-2.5-turbo"),
    # omni models have no text-to-video or image-to-video path: their own kind is to come
    ("kling-v3-omni", T2V): (None, None),
    ("kling-o1", I2V): (None, None),
    **{(name, kind): (None, None) for name in LEGACY_ONLY for kind in (T2V, I2V)},
    ("kling-v9", T2V): (None, None),
}


@pytest.mark.parametrize(("name", "kind"), list(EXPECTED))
@pytest.mark.parametrize("api", list(Api))
def test_choose_sends_each_model_where_it_is_served(name: str, kind: JobKind, api: Api) -> None:
    auto, new = EXPECTED[name, kind]
    path = {Api.AUTO: auto, Api.NEW: new, Api.LEGACY: None}[api]
    expected = kind if path is None else ModelPath(kind, path)
    assert choose(kind, {"model_name": name, "prompt": "p"}, api) == expected


@pytest.mark.parametrize("api", list(Api))
def test_jobs_without_a_model_and_image_kinds_stay_on_their_routes(api: Api) -> None:
    assert choose(T2V, {"prompt": "p"}, api) is T2V  # kling-v1, the /v1 default
    for kind in (JobKind.TEXT2IMAGE, JobKind.IMAGE_EXPAND, JobKind.MULTI_IMAGE2IMAGE):
        assert choose(kind, {"model_name": "kling-v3"}, api) is kind


def test_every_path_choose_gives_is_known() -> None:
    for name, kind in EXPECTED:
        target = choose(kind, {"model_name": name}, Api.NEW)
        if isinstance(target, ModelPath):
            assert target.path in models.PATHS


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("valid/*.yaml")), ids=lambda p: p.stem)
def test_a_manifest_without_api_keeps_today_s_targets(path: Path) -> None:
    """Every valid example that names no model of the new API alone (those are under
    valid/newapi/) sends each job where it went before provider.api existed."""
    manifest = load_manifest(path)
    assert manifest.provider.api is Api.AUTO
    for job in manifest.jobs():
        if job.kind in NEW_API_KINDS:  # omni video, motion control: the new API's kinds alone
            assert isinstance(choose(job.kind, job.request, manifest.provider.api), ModelPath)
            continue
        assert choose(job.kind, job.request, manifest.provider.api) is job.kind
