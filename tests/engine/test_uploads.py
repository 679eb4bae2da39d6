"""A run's media without a store at hand: the URLs a create sends in place of local paths."""

from __future__ import annotations

import random
from pathlib import Path

from kbatch.engine.clock import SystemClock
from kbatch.engine.mediaserve import Served
from kbatch.engine.pacing import Pacing
from kbatch.engine.retry import Backoff
from kbatch.engine.uploads import Media
from kbatch.images import ImageInput, ImageSource
from kbatch.media import ImagesBy, MediaSettings, local_value, media_file
from kbatch.store.sqlite import SqliteStore
from tests.clips import clip


def test_a_create_sent_again_gets_fresh_urls_without_waiting_for_uploads(tmp_path: Path) -> None:
    """A job an earlier run left unanswered is sent again without ``ready()``: its local files
    still become URLs (served ones here), each create's its own, images too with images: url."""
    video, image = tmp_path / "clip.mp4", tmp_path / "ok.png"
    video.write_bytes(clip(6))
    image.write_bytes(b"\x89PNG not decoded here")
    settings = MediaSettings(serve=True, images=ImagesBy.URL, expires=600)
    now = [1000.0]
    served = Served("http://127.0.0.1:9", expires=600, now=lambda: now[0])
    clock = SystemClock()
    with SqliteStore.open(tmp_path / "state.sqlite3", manifest_name="m") as store:
        media = Media(
            settings,
            store,
            clock=clock,
            backoff=lambda: Backoff(Pacing(), rng=random.Random(1), clock=clock),
            served=served,
        )
        request = {
            "video": local_value(video),
            "image": ImageInput(ImageSource.FILE, str(image)),
            "prompt": "a dance",
        }
        first = media.sent(request)
        now[0] += 60
        second = media.sent(request)
    name = media_file(str(video)).name
    assert first["video"].startswith("http://127.0.0.1:9/kbatch/media/")
    assert first["video"].endswith(f"/{name}") and first["video"] != second["video"]
    assert first["image"].source is ImageSource.URL and first["prompt"] == "a dance"
    assert request["video"] == local_value(video)  # the job's own request is left as it was
