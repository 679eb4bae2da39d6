"""The simulator's price table (:mod:`kbatch.simulator.prices`) against the estimator's
(:mod:`kbatch.pricing`), row by row of the vendor's price pages (``kling-pricing-video.md``,
``kling-pricing-image.md``, 2026-09). Each table is written from the pages on its own; the rows
below are a third reading, so a mistake in either table shows here as a disagreement."""

from __future__ import annotations

from typing import Any

import pytest

from kbatch.pricing import DEFAULT
from kbatch.provider.catalogue import JobKind
from kbatch.simulator import prices

VIDEO_URL = "https://example.com/v.mp4"

# (page row, kind, estimator's request, simulator's (model, feature, resolution), units per s)
VIDEO_ROWS: list[tuple[str, JobKind, dict[str, Any], tuple[str, str, str], float]] = []


def _video(
    row: str, kind: JobKind, request: dict[str, Any], sim: tuple[str, ...], per: float
) -> None:
    model, feature, resolution = sim
    VIDEO_ROWS.append((row, kind, request, (model, feature, resolution), per))


_MODE = {"720p": "std", "1080p": "pro", "4k": "4k"}
for res, per in {"720p": 0.8, "1080p": 1.0}.items():
    _video(f"3.0 Turbo {res}", JobKind.TEXT2VIDEO,
           {"model_name": "kling-3.0-turbo", "mode": _MODE[res]},
           ("kling-3.0-turbo", "silent", res), per)  # fmt: skip
for res, per in {"720p": 0.6, "1080p": 0.8, "4k": 3.0}.items():
    _video(
        f"3.0 no audio {res}",
        JobKind.IMAGE2VIDEO,
        {"model_name": "kling-v3", "mode": _MODE[res]},
        ("kling-3.0", "silent", res),
        per,
    )
for res, per in {"720p": 0.9, "1080p": 1.2, "4k": 3.0}.items():
    _video(f"3.0 audio {res}", JobKind.TEXT2VIDEO,
           {"model_name": "kling-v3", "mode": _MODE[res], "sound": "on"},
           ("kling-3.0", "audio", res), per)  # fmt: skip
for res, per in {"720p": 0.9, "1080p": 1.2}.items():
    _video(f"3.0 motion control {res}", JobKind.MOTION_CONTROL,
           {"model_name": "kling-v3", "mode": _MODE[res], "duration": 5},
           ("kling-3.0", "motion", res), per)  # fmt: skip
for res, per in {"720p": 0.6, "1080p": 0.8, "4k": 3.0}.items():
    _video(f"3.0 Omni no video, no audio {res}", JobKind.OMNI_VIDEO,
           {"model_name": "kling-v3-omni", "mode": _MODE[res]},
           ("kling-3.0-omni", "silent", res), per)  # fmt: skip
for res, per in {"720p": 0.8, "1080p": 1.0, "4k": 3.0}.items():
    _video(f"3.0 Omni audio {res}", JobKind.OMNI_VIDEO,
           {"model_name": "kling-v3-omni", "mode": _MODE[res], "audio": "native"},
           ("kling-3.0-omni", "audio", res), per)  # fmt: skip
for res, per in {"720p": 0.9, "1080p": 1.2, "4k": 3.0}.items():
    _video(f"3.0 Omni video input {res}", JobKind.OMNI_VIDEO,
           {"model_name": "kling-v3-omni", "mode": _MODE[res], "video": VIDEO_URL},
           ("kling-3.0-omni", "video", res), per)  # fmt: skip
for res, per in {"720p": 0.6, "1080p": 0.8}.items():
    _video(
        f"O1 no video {res}",
        JobKind.OMNI_VIDEO,
        {"model_name": "kling-video-o1", "mode": _MODE[res]},
        ("kling-o1", "silent", res),
        per,
    )
for res, per in {"720p": 0.9, "1080p": 1.2}.items():
    _video(f"O1 video input {res}", JobKind.OMNI_VIDEO,
           {"model_name": "kling-video-o1", "mode": _MODE[res], "video": VIDEO_URL},
           ("kling-o1", "video", res), per)  # fmt: skip
for res, per in {"720p": 0.3, "1080p": 0.5}.items():
    _video(
        f"2.6 no audio {res}",
        JobKind.IMAGE2VIDEO,
        {"model_name": "kling-v2-6", "mode": _MODE[res]},
        ("kling-2.6", "silent", res),
        per,
    )
_video("2.6 audio 1080p", JobKind.IMAGE2VIDEO,
       {"model_name": "kling-v2-6", "mode": "pro", "sound": "on"}, ("kling-2.6", "audio", "1080p"),
       1.0)  # fmt: skip
_video("2.6 audio with voices 1080p", JobKind.IMAGE2VIDEO,
       {"model_name": "kling-v2-6", "mode": "pro", "sound": "on", "voice_list": [{"v": 1}]},
       ("kling-2.6", "voice", "1080p"), 1.2)  # fmt: skip
for res, per in {"720p": 0.5, "1080p": 0.8}.items():
    _video(f"2.6 motion control {res}", JobKind.MOTION_CONTROL,
           {"model_name": "kling-v2-6", "mode": _MODE[res], "duration": 5},
           ("kling-2.6", "motion", res), per)  # fmt: skip
for res, per in {"720p": 0.3, "1080p": 0.5}.items():
    _video(f"2.5 Turbo {res}", JobKind.TEXT2VIDEO,
           {"model_name": "kling-v2-5-turbo", "mode": _MODE[res]},
           ("kling-2.5-turbo", "silent", res), per)  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "request_", "sim", "per"),
    [pytest.param(kind, r, sim, per, id=row) for row, kind, r, sim, per in VIDEO_ROWS],
)
def test_a_video_row_of_the_page_costs_the_same_in_both_tables(
    kind: JobKind, request_: dict[str, Any], sim: tuple[str, str, str], per: float
) -> None:
    """5 s of video: the page's price per second times 5, in both tables."""
    assert prices.per_second(*sim) * 5 == pytest.approx(per * 5)
    assert DEFAULT.estimate(kind, request_) == pytest.approx(per * 5)


# (page row, kind, request, units per image)
IMAGE_ROWS: list[tuple[str, JobKind, dict[str, Any], float]] = [
    ("Image 3.0 text-to-image", JobKind.TEXT2IMAGE, {"model_name": "kling-v3"}, 8.0),
    ("Image 3.0 image-to-image", JobKind.TEXT2IMAGE,
     {"model_name": "kling-v3", "image": VIDEO_URL}, 8.0),
    ("Image 3.0 by default", JobKind.TEXT2IMAGE, {}, 8.0),
    ("Image 3.0 at 2k", JobKind.TEXT2IMAGE, {"model_name": "kling-v3", "resolution": "2k"}, 8.0),
    ("Image 2.1 text-to-image", JobKind.TEXT2IMAGE, {"model_name": "kling-v2-1"}, 4.0),
    ("Image 2.1 image-to-image", JobKind.TEXT2IMAGE,
     {"model_name": "kling-v2-1", "image": VIDEO_URL}, 8.0),
    ("Image 2.1 multi-image to image", JobKind.MULTI_IMAGE2IMAGE,
     {"model_name": "kling-v2-1"}, 16.0),
    ("Outpainting", JobKind.IMAGE_EXPAND, {}, 8.0),
    ("Image 3.0 Omni 1k", JobKind.OMNI_IMAGE, {"model_name": "kling-v3-omni"}, 8.0),
    ("Image 3.0 Omni 2k", JobKind.OMNI_IMAGE,
     {"model_name": "kling-v3-omni", "resolution": "2k"}, 8.0),
    ("Image 3.0 Omni 4k", JobKind.OMNI_IMAGE,
     {"model_name": "kling-v3-omni", "resolution": "4k"}, 16.0),
    ("Image O1 1k", JobKind.OMNI_IMAGE, {"model_name": "kling-image-o1"}, 8.0),
    ("Image O1 2k by default", JobKind.OMNI_IMAGE, {"resolution": "2k"}, 8.0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "request_", "per"),
    [pytest.param(kind, r, per, id=row) for row, kind, r, per in IMAGE_ROWS],
)
@pytest.mark.parametrize("n", [1, 3])
def test_an_image_row_of_the_page_costs_the_same_in_both_tables(
    kind: JobKind, request_: dict[str, Any], per: float, n: int
) -> None:
    asked = {**request_, "n": n}
    assert prices.own_kind(kind.value, asked, n) == prices.amount(per * n)  # the simulator
    assert DEFAULT.estimate(kind, asked) == per * n  # the estimator
