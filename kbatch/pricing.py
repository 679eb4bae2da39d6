"""What a job may cost, in Kling units, before it runs: the figure the budget is checked against.

Kling charges from resource packs in "units" and reports each finished task's charge as
``final_unit_deduction``; kbatch counts spending from that field only. Before a task runs, the
budget needs an upper estimate. The table below is built from Kling's published unit prices at the
time of writing (per 5 s of video by model and mode; per image for the image routes), rounded up
where sources disagree, so that the budget errs on the side of stopping early.

Prices change: treat these as estimates, not as a bill.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kbatch.kling import JobKind

#: Units per 5 s of video, by model and mode (std, pro).
VIDEO_PER_5S: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "kling-v1": (1.0, 3.5),
        "kling-v1-5": (2.0, 3.5),
        "kling-v1-6": (2.0, 3.5),
        "kling-v2-master": (10.0, 10.0),
        "kling-v2-1": (2.0, 3.5),
        "kling-v2-1-master": (10.0, 10.0),
        "kling-v2-5-turbo": (2.5, 3.5),
        "kling-v2-6": (2.5, 5.0),
    }
)
#: For a model the table does not know: the dearest known price.
VIDEO_UNKNOWN = (10.0, 10.0)
#: Units per generated image.
PER_IMAGE: Mapping[JobKind, float] = MappingProxyType(
    {JobKind.IMAGE_EXPAND: 0.5, JobKind.MULTI_IMAGE2IMAGE: 1.0}
)


def estimate(kind: JobKind, request: Mapping[str, Any]) -> float:
    """Units one task of this job may cost, from the table."""
    if kind is JobKind.IMAGE2VIDEO:
        std, pro = VIDEO_PER_5S.get(str(request.get("model_name", "kling-v1")), VIDEO_UNKNOWN)
        per_5s = pro if request.get("mode") == "pro" else std
        return per_5s * int(str(request.get("duration", 5))) / 5
    return PER_IMAGE[kind] * int(request.get("n", 1))
