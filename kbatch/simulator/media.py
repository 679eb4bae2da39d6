"""Real result files, made from the task's input images.

- Expansion: the original in the middle of a canvas grown by the requested ratios (a 400x300
  image with 0.25 on each side gives 600x450), the new area a blurred stretch of the original.
- Text to image, multi-image, omni image: a canvas of the requested ``aspect_ratio`` and
  ``resolution`` (:func:`pixels`: 1k about a megapixel, 2k four), the scene (or a gradient)
  behind the subjects.
- Video: a short H.264 MP4 of the input image slowly zooming, 8 frames a second for the
  requested duration, encoded with PyAV (the optional extra ``kbatch[video]``). Without PyAV a
  bundled one-second clip is served instead, so the simulator still works on a light install.
"""

from __future__ import annotations

import io
import math
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter, ImageOps

from kbatch.provider.catalogue import JobKind
from kbatch.simulator.rules import EXPAND_SIDES, Picture
from kbatch.simulator.tasks import SimTask

av: Any
try:  # PyAV is optional: `pip install kbatch[video]`
    import av
except ImportError:  # pragma: no cover - the test install has it; covered by a forced test
    av = None

FPS = 8
MAX_VIDEO_SIDE = 480
#: The side of a square image at each resolution Kling makes images in.
SQUARE_SIDES = {"1k": 1024, "2k": 2048, "4k": 4096}
_TINTS = [(0, 0, 0), (40, 90, 160), (160, 90, 40), (60, 140, 60), (140, 60, 140)]


def render(task: SimTask, name: str, *, video_encoder: bool = True) -> tuple[bytes, str]:
    """The bytes and content type of one result file of a finished task."""
    index = int(name.split(".", 1)[0])  # 0.png, or 0.watermark.png for the watermarked copy
    fields = task.request.fields
    pictures = task.request.pictures
    if task.kind in (JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO, JobKind.VIDEO_EFFECTS):
        picture = pictures.get("image") or pictures.get("image_tail")  # text2video: a gradient
        seconds = int(str(fields.get("duration", "5")))
        if video_encoder and av is not None:
            return video(_open(picture), seconds), "video/mp4"
        return fallback_video(), "video/mp4"
    if task.kind is JobKind.TEXT2IMAGE:
        reference = pictures.get("image")
        backdrop = None if reference is None or reference.data is None else _open(reference)
        ratio, resolution = str(fields.get("aspect_ratio", "16:9")), _resolution(fields)
        image = composed([], backdrop, ratio, index, resolution)
    elif task.kind is JobKind.IMAGE_EXPAND:
        ratios = {side: float(fields[f"{side}_expansion_ratio"]) for side in EXPAND_SIDES}
        image = expanded(_open(pictures["image"]), ratios, index)
    else:
        listed = ("subject_image_list", "image_list")  # multi-image, omni image
        subjects = [_open(p) for key, p in pictures.items() if key.startswith(listed)]
        scene = pictures.get("scene_image")
        ratio = str(fields.get("aspect_ratio", "16:9")).replace("auto", "1:1")
        backdrop = None if scene is None else _open(scene)
        image = composed(subjects, backdrop, ratio, index, _resolution(fields))
    return _png(image), "image/png"


def _resolution(fields: Any) -> str:
    return str(fields.get("resolution") or "1k")


def _open(picture: Picture | None) -> Image.Image:
    """The picture's pixels; a gradient of its size for a URL (never fetched)."""
    if picture is None or picture.data is None:
        width, height = (1024, 768) if picture is None else (picture.width, picture.height)
        return Image.linear_gradient("L").resize((width, height)).convert("RGB")
    with Image.open(io.BytesIO(picture.data)) as opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def expanded(image: Image.Image, ratios: dict[str, float], index: int = 0) -> Image.Image:
    width, height = image.size
    canvas_size = (
        round(width * (1 + ratios["left"] + ratios["right"])),
        round(height * (1 + ratios["up"] + ratios["down"])),
    )
    small = image.resize((max(1, canvas_size[0] // 8), max(1, canvas_size[1] // 8)))
    canvas = small.filter(ImageFilter.GaussianBlur(2)).resize(canvas_size)
    canvas = _tint(canvas, index)
    canvas.paste(image, (round(width * ratios["left"]), round(height * ratios["up"])))
    return canvas


def pixels(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """The width and height of an image made at ``resolution`` (1k, 2k, 4k) in ``aspect_ratio``:
    about 1, 4 or 16 megapixels (a square of 1024, 2048 or 4096 px) in that ratio, sides a
    multiple of 16. The vendor's pages name the resolutions without their pixels; this is the
    reading kbatch takes (2k 16:9 is 2736x1536, 1k 1:1 is 1024x1024).

    >>> pixels("1k", "16:9"), pixels("2k", "16:9"), pixels("1k", "1:1"), pixels("2k", "9:16")
    ((1360, 768), (2736, 1536), (1024, 1024), (1536, 2736))
    """
    side = SQUARE_SIDES.get(resolution.lower(), SQUARE_SIDES["1k"])
    across, down = (int(part) for part in aspect_ratio.split(":"))
    width = math.sqrt(side * side * across / down)
    return _sixteen(width), _sixteen(width * down / across)


def _sixteen(length: float) -> int:
    return max(16, round(length / 16) * 16)


def composed(
    subjects: list[Image.Image],
    scene: Image.Image | None,
    aspect_ratio: str,
    index: int = 0,
    resolution: str = "1k",
) -> Image.Image:
    size = pixels(resolution, aspect_ratio)
    if scene is not None:
        canvas = ImageOps.fit(scene, size)
    else:
        canvas = Image.linear_gradient("L").resize(size).convert("RGB")
    canvas = _tint(canvas, index)
    cell = (size[0] // max(1, len(subjects)), int(size[1] * 0.6))
    for position, subject in enumerate(subjects):
        thumb = ImageOps.contain(subject, cell)
        x = position * cell[0] + (cell[0] - thumb.width) // 2
        canvas.paste(thumb, (x, size[1] - thumb.height))
    return canvas


def _tint(image: Image.Image, index: int) -> Image.Image:
    """Each of the n results looks a little different."""
    if index == 0:
        return image
    color = Image.new("RGB", image.size, _TINTS[index % len(_TINTS)])
    return Image.blend(image, color, 0.2)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def video(image: Image.Image, seconds: int) -> bytes:
    """An H.264 MP4 (yuv420p, playable in browsers) of ``image`` zooming in slowly."""
    assert av is not None
    first = ImageOps.contain(image, (MAX_VIDEO_SIDE, MAX_VIDEO_SIDE))
    width, height = first.width // 2 * 2, first.height // 2 * 2
    with tempfile.TemporaryDirectory(prefix="kbatch-sim-") as folder:
        target = Path(folder) / "video.mp4"  # a file: +faststart rewrites it at the end
        _encode(image, seconds, (width, height), target)
        return target.read_bytes()


def _encode(image: Image.Image, seconds: int, size: tuple[int, int], target: Path) -> None:
    assert av is not None
    width, height = size
    container: Any = av.open(str(target), mode="w", options={"movflags": "+faststart"})
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": "30", "preset": "veryfast"}
    frames = max(1, seconds * FPS)
    for number in range(frames):
        zoom = 1 + 0.15 * number / frames
        crop_w, crop_h = image.width / zoom, image.height / zoom
        left, top = (image.width - crop_w) / 2, (image.height - crop_h) / 2
        frame = image.resize((width, height), box=(left, top, left + crop_w, top + crop_h))
        for packet in stream.encode(av.VideoFrame.from_image(frame)):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def fallback_video() -> bytes:
    """A bundled one-second MP4, served when PyAV is not installed."""
    return resources.files("kbatch.simulator").joinpath("fallback.mp4").read_bytes()
