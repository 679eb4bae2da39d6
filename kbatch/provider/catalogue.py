"""What kbatch knows about Kling and its gateways, as data.

For each job kind: its pack type (Kling counts parallel tasks per pack type), which fields hold
images, and its endpoint (route and field spellings, per dialect). For each provider: host, route
prefix, where its credentials live, the text and count limits its documentation gives
(KLING_API.md). A rule that differs between providers lives here, never as an
``if provider == ...`` elsewhere. The wire format (request bodies, task records, the error
taxonomy) is in :mod:`kbatch.provider.wire`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class JobKind(enum.StrEnum):
    IMAGE_EXPAND = "image_expand"
    MULTI_IMAGE2IMAGE = "multi_image2image"
    IMAGE2VIDEO = "image2video"
    TEXT2VIDEO = "text2video"
    TEXT2IMAGE = "text2image"
    OMNI_VIDEO = "omni_video"
    MOTION_CONTROL = "motion_control"
    OMNI_IMAGE = "omni_image"
    VIDEO_EFFECTS = "video_effects"
    # Kling's building blocks (KLING_API.md section 11; issue 31): they make ids and files that
    # other jobs take (``job:<id>``).
    ELEMENT = "element"
    VOICE = "voice"
    TTS = "tts"
    TEXT2AUDIO = "text2audio"
    VIDEO2AUDIO = "video2audio"
    AVATAR = "avatar"
    LIP_SYNC = "lip_sync"
    SUBJECT_COMPLETION = "subject_completion"


class PackType(enum.StrEnum):
    """Kling's resource packs: parallel-task limits are counted per pack type."""

    IMAGE = "image"
    VIDEO = "video"


class ProviderName(enum.StrEnum):
    KLING = "kling"
    COMETAPI = "cometapi"
    ANYAPI = "anyapi"
    SIMULATOR = "simulator"


PACK: Mapping[JobKind, PackType] = MappingProxyType(
    {
        JobKind.IMAGE_EXPAND: PackType.IMAGE,
        JobKind.MULTI_IMAGE2IMAGE: PackType.IMAGE,
        JobKind.IMAGE2VIDEO: PackType.VIDEO,
        JobKind.TEXT2VIDEO: PackType.VIDEO,
        JobKind.TEXT2IMAGE: PackType.IMAGE,
        JobKind.OMNI_VIDEO: PackType.VIDEO,
        JobKind.MOTION_CONTROL: PackType.VIDEO,
        JobKind.OMNI_IMAGE: PackType.IMAGE,
        JobKind.VIDEO_EFFECTS: PackType.VIDEO,
        # The pricing pages bill every block from the video pack but AI Multi-Shot (image).
        JobKind.ELEMENT: PackType.VIDEO,
        JobKind.VOICE: PackType.VIDEO,
        JobKind.TTS: PackType.VIDEO,
        JobKind.TEXT2AUDIO: PackType.VIDEO,
        JobKind.VIDEO2AUDIO: PackType.VIDEO,
        JobKind.AVATAR: PackType.VIDEO,
        JobKind.LIP_SYNC: PackType.VIDEO,
        JobKind.SUBJECT_COMPLETION: PackType.IMAGE,
    }
)
#: The building blocks (issue 31): Kling's /v1 routes only, the simulator's blockroutes.
_MAKERS = {JobKind.ELEMENT, JobKind.VOICE, JobKind.TTS, JobKind.TEXT2AUDIO, JobKind.VIDEO2AUDIO}
BLOCK_KINDS = frozenset({*_MAKERS, JobKind.AVATAR, JobKind.LIP_SYNC, JobKind.SUBJECT_COMPLETION})
#: Kinds Kling answers at once (no task to query, no external id to look a lost answer up by).
SYNC_KINDS = frozenset({JobKind.TTS})

#: Fields holding one image, per kind (none: a kind absent; an element's are nested, in
#: manifest/records.py). The first is the main image (the aspect-ratio rule applies).
IMAGE_FIELDS: Mapping[JobKind, tuple[str, ...]] = MappingProxyType(
    {
        JobKind.IMAGE_EXPAND: ("image",),
        JobKind.MULTI_IMAGE2IMAGE: ("scene_image", "style_image"),
        JobKind.IMAGE2VIDEO: ("image", "image_tail", "static_mask"),
        JobKind.TEXT2VIDEO: (),
        JobKind.TEXT2IMAGE: ("image",),  # an optional reference
        JobKind.OMNI_VIDEO: ("image", "image_tail"),  # first and last frame; image_list too
        JobKind.MOTION_CONTROL: ("image",),  # the character
        JobKind.OMNI_IMAGE: (),  # image_list[].image: kbatch.manifest.checks.image_slots
        JobKind.VIDEO_EFFECTS: ("image",),  # or images[0], images[1] (two-person effects)
        JobKind.AVATAR: ("image",),
        JobKind.SUBJECT_COMPLETION: ("element_frontal_image",),
    }
)
#: Fields holding a list of images (plain strings), per kind: omni video's reference images.
IMAGE_LIST_FIELDS: Mapping[JobKind, tuple[str, ...]] = MappingProxyType(
    {JobKind.OMNI_VIDEO: ("image_list",)}
)
#: The kinds Kling serves on its path-addressed API only (``/omni-video/{model}``,
#: ``/motion-control/{model}``): one slot a task, their rules in kbatch.manifest.omni/.motion.
NEW_API_KINDS = frozenset({JobKind.OMNI_VIDEO, JobKind.MOTION_CONTROL})
#: Their model without ``model_name``: the newest omni model, and the motion model Kling's
#: changelog names as the default (kling-v2-6).
NEW_KIND_DEFAULTS: Mapping[JobKind, str] = MappingProxyType(
    {JobKind.OMNI_VIDEO: "kling-v3-omni", JobKind.MOTION_CONTROL: "kling-v2-6"}
)
#: The video kinds (one slot a task; the capability map applies).
VIDEO_KINDS = frozenset({JobKind.IMAGE2VIDEO, JobKind.TEXT2VIDEO})
MAIN_IMAGE = "image"
#: Fields the aspect-ratio rule (1:2.5 to 2.5:1) applies to, besides the main image: the
#: official multi-image table applies the image rules to every subject, scene and style image.
RATIO_RULE_FIELDS = frozenset(
    {MAIN_IMAGE, "subject_image", "scene_image", "style_image", "image_list"}
)
RATIO_RULE_FIELDS |= {"frontal_image", "image_url", "element_frontal_image"}  # slice records
#: Masks must have the main image's aspect ratio (CometAPI: its resolution too).
MASK_FIELDS = frozenset({"static_mask", "mask"})

EXPANSION_SIDES = (
    "up_expansion_ratio",
    "down_expansion_ratio",
    "left_expansion_ratio",
    "right_expansion_ratio",
)
#: The expanded canvas may be at most this many times the original area.
MAX_EXPANSION_AREA = 3.0

#: image2video fields that cannot be combined: at most one group per job.
EXCLUSIVE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("image_tail",),
    ("static_mask", "dynamic_masks"),
    ("camera_control",),
)
CAMERA_AXES = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")

_OFFICIAL_TEXT = {
    (JobKind.IMAGE_EXPAND, "prompt"): 2500,
    (JobKind.MULTI_IMAGE2IMAGE, "prompt"): 2500,
    (JobKind.IMAGE2VIDEO, "prompt"): 2500,
    (JobKind.IMAGE2VIDEO, "negative_prompt"): 2500,
    (JobKind.TEXT2VIDEO, "prompt"): 2500,
    (JobKind.TEXT2VIDEO, "negative_prompt"): 2500,
    (JobKind.TEXT2IMAGE, "prompt"): 2500,
    (JobKind.TEXT2IMAGE, "negative_prompt"): 2500,
    # The widest of the kind's models (kling-3.0-omni 3072; kling-o1 2500 in manifest/omni.py).
    (JobKind.OMNI_VIDEO, "prompt"): 3072,
    (JobKind.MOTION_CONTROL, "prompt"): 2500,
    (JobKind.OMNI_IMAGE, "prompt"): 2500,
    # slice audio: kling-text-to-speech.md, kling-text-to-audio.md, kling-video-to-audio.md
    (JobKind.TTS, "text"): 1000,
    (JobKind.TEXT2AUDIO, "prompt"): 200,
    (JobKind.VIDEO2AUDIO, "sound_effect_prompt"): 200,
    (JobKind.VIDEO2AUDIO, "bgm_prompt"): 200,
    # slice faces (issue 31): kling-avatar.md
    (JobKind.AVATAR, "prompt"): 2500,
    # slice records (issue 31): kling-omni-3.0-element-mgt.md, kling-2.6-voice-mgt.md
    (JobKind.ELEMENT, "element_name"): 20,
    (JobKind.ELEMENT, "element_description"): 100,
    (JobKind.VOICE, "voice_name"): 20,
}
_GATEWAY_TEXT = {
    **_OFFICIAL_TEXT,
    (JobKind.IMAGE2VIDEO, "prompt"): 500,
    (JobKind.IMAGE2VIDEO, "negative_prompt"): 200,
}


class Dialect(enum.StrEnum):
    """How a provider spells the multi-image endpoint.

    ``legacy`` is CometAPI's older page: ``images/generations`` with the field ``scence_image``.
    """

    OFFICIAL = "official"
    LEGACY = "legacy"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One kind's routes at a provider, relative to the route prefix, and its field spellings."""

    route: str
    renames: Mapping[str, str] = field(default_factory=dict)
    #: Fields sent inside an object of the body, by field: video effects send their image(s)
    #: as ``input.image`` / ``input.images``.
    nested: Mapping[str, str] = field(default_factory=dict)

    def wire_name(self, name: str) -> str:
        return self.renames.get(name, name)


def _omni_and_effects() -> dict[tuple[JobKind, Dialect], Endpoint]:
    """Omni image and video effects: Kling's /v1 routes (kling-image-o1-generation.md,
    kling-effects-video-effects.md), the same in both dialects."""
    inside = MappingProxyType({"image": "input", "images": "input"})
    routes = {
        JobKind.OMNI_IMAGE: Endpoint("images/omni-image"),
        JobKind.VIDEO_EFFECTS: Endpoint("videos/effects", nested=inside),
    }
    return {(kind, dialect): route for kind, route in routes.items() for dialect in Dialect}


def _records() -> dict[tuple[JobKind, Dialect], Endpoint]:
    """slice records (issue 31): element, voice and subject views, Kling's /v1 routes (the
    gateways document none: :data:`_GATEWAY_UNSERVED`)."""
    routes = {
        JobKind.ELEMENT: Endpoint("general/advanced-custom-elements"),
        JobKind.VOICE: Endpoint("general/custom-voices"),
        JobKind.SUBJECT_COMPLETION: Endpoint("general/ai-multi-shot"),
    }
    return {(kind, dialect): route for kind, route in routes.items() for dialect in Dialect}


ENDPOINTS: Mapping[tuple[JobKind, Dialect], Endpoint] = MappingProxyType(
    {
        (JobKind.IMAGE_EXPAND, Dialect.OFFICIAL): Endpoint("images/editing/expand"),
        (JobKind.IMAGE_EXPAND, Dialect.LEGACY): Endpoint("images/editing/expand"),
        (JobKind.MULTI_IMAGE2IMAGE, Dialect.OFFICIAL): Endpoint("images/multi-image2image"),
        (JobKind.MULTI_IMAGE2IMAGE, Dialect.LEGACY): Endpoint(
            "images/generations", MappingProxyType({"scene_image": "scence_image"})
        ),
        (JobKind.IMAGE2VIDEO, Dialect.OFFICIAL): Endpoint("videos/image2video"),
        (JobKind.IMAGE2VIDEO, Dialect.LEGACY): Endpoint("videos/image2video"),
        (JobKind.TEXT2VIDEO, Dialect.OFFICIAL): Endpoint("videos/text2video"),
        (JobKind.TEXT2VIDEO, Dialect.LEGACY): Endpoint("videos/text2video"),
        # The same path as the legacy multi-image dialect: the body tells them apart (a
        # subject_image_list is multi-image).
        (JobKind.TEXT2IMAGE, Dialect.OFFICIAL): Endpoint("images/generations"),
        (JobKind.TEXT2IMAGE, Dialect.LEGACY): Endpoint("images/generations"),
        **_omni_and_effects(),
        # slice audio: speech, sound effects, sound for a video (KLING_API.md section 11)
        **{(JobKind.TTS, d): Endpoint("audio/tts") for d in Dialect},
        **{(JobKind.TEXT2AUDIO, d): Endpoint("audio/text-to-audio") for d in Dialect},
        **{(JobKind.VIDEO2AUDIO, d): Endpoint("audio/video-to-audio") for d in Dialect},
        # slice faces (issue 31): kling-avatar.md, kling-lip-sync.md (the same in both dialects)
        **{(JobKind.AVATAR, d): Endpoint("videos/avatar/image2video") for d in Dialect},
        **{(JobKind.LIP_SYNC, d): Endpoint("videos/advanced-lip-sync") for d in Dialect},
        **_records(),
    }
)
#: Lip-sync's first step, answered at once (kling-face-recog.md): a face session of a video.
IDENTIFY_FACE_ROUTE = "videos/identify-face"


#: The legacy multi-image route (CometAPI's images/generations) documents only this model, and
#: 2 to 4 subjects.
LEGACY_MULTI_MODELS = ("kling-v2",)
#: Kling's own multi-image route serves only kling-v2-1 (kling-image-2.1-multi-image-to-image.md),
#: and so do the gateways' newer multi-image routes (KLING_API.md, gateway corrections).
OFFICIAL_MULTI_MODELS = ("kling-v2-1",)
LEGACY_SUBJECTS = (2, 4)
#: Fields sent whatever the manifest says, per kind (AnyAPI's spec requires n on expand).
WIRE_DEFAULTS: Mapping[JobKind, Mapping[str, object]] = MappingProxyType(
    {
        JobKind.IMAGE_EXPAND: MappingProxyType({"n": 1}),
        # slice audio: kling-text-to-speech.md marks voice_language required (default zh)
        JobKind.TTS: MappingProxyType({"voice_language": "zh"}),
    }
)
_GATEWAY_QUERIES: Mapping[JobKind, tuple[str, ...]] = MappingProxyType(
    {
        JobKind.IMAGE_EXPAND: ("images/generations",),
        JobKind.MULTI_IMAGE2IMAGE: ("images/generations",),
    }
)


#: The gateways document no omni-image route (their Kling pages predate it); video effects
#: they serve at /kling/v1/videos/effects.
_GATEWAY_UNSERVED = frozenset(
    {JobKind.OMNI_IMAGE} | {JobKind.TTS, JobKind.TEXT2AUDIO, JobKind.VIDEO2AUDIO}  # slice audio
)
_GATEWAY_UNSERVED |= {JobKind.AVATAR, JobKind.LIP_SYNC}  # slice faces: no route documented
_GATEWAY_UNSERVED |= {JobKind.ELEMENT, JobKind.VOICE, JobKind.SUBJECT_COMPLETION}  # slice records

#: The most tasks one page of a list route holds (pageSize 1..500).
PAGE_SIZE = 500


class LookupForm(enum.StrEnum):
    """Ways to find a task by its external task id; which one a provider honours is unverified."""

    PATH = "path"  # GET <route>/<external_task_id>
    QUERY = "query"  # GET <route>?external_task_id=...
    LIST = "list"  # scan GET <route>?pageNum=..&pageSize=500


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider: where it is, how it authenticates, and its documented limits.

    ``key_env`` names the variable holding a static Bearer key; ``jwt_envs`` the access and
    secret key variables from which a JWT is signed (official Kling only).
    """

    name: ProviderName
    base_url: str
    prefix: str
    key_env: str | None
    jwt_envs: tuple[str, str] | None = None
    text_limits: Mapping[tuple[JobKind, str], int] = field(default_factory=dict)
    dialect: Dialect = Dialect.OFFICIAL
    #: Other routes a task of a kind may be asked for by id when its own route does not know it
    #: (CometAPI documents image queries under images/generations only).
    query_fallbacks: Mapping[JobKind, tuple[str, ...]] = field(default_factory=dict)
    #: Check jobs against the capability map (provider.check_capabilities: false turns it off).
    check_capabilities: bool = True
    #: The shortest pause between status checks of one route, where the provider asks for one.
    poll_floor: float = 1.0
    #: Kinds whose route the provider's documentation does not give: refused before sending.
    unserved: frozenset[JobKind] = frozenset()

    @property
    def subjects(self) -> tuple[int, int]:
        """How many subject images multi-image takes: 1..4, but 2..4 on the legacy route."""
        return LEGACY_SUBJECTS if self.dialect is Dialect.LEGACY else (1, 4)


PROVIDERS: Mapping[ProviderName, ProviderSpec] = MappingProxyType(
    {
        ProviderName.KLING: ProviderSpec(
            ProviderName.KLING,
            "https://api-singapore.klingai.com",
            "/v1",
            "KLING_API_KEY",
            ("KLING_ACCESS_KEY", "KLING_SECRET_KEY"),
            _OFFICIAL_TEXT,
        ),
        # CometAPI's pages give 500/200 characters for image2video, and its per-task query
        # route lists only images/generations for images.
        ProviderName.COMETAPI: ProviderSpec(
            ProviderName.COMETAPI,
            "https://api.cometapi.com",
            "/kling/v1",
            "COMETAPI_KEY",
            None,
            _GATEWAY_TEXT,
            query_fallbacks=_GATEWAY_QUERIES,
            unserved=_GATEWAY_UNSERVED,
            poll_floor=20.0,  # "poll every 20-30 s": one list round each 20 s covers every task
        ),
        # AnyAPI's own spec gives the official 2500-character limits; its queries are assumed
        # to work as CometAPI's (unverified).
        ProviderName.ANYAPI: ProviderSpec(
            ProviderName.ANYAPI,
            "https://www.anyapi.vip",
            "/kling/v1",
            "ANYAPI_KEY",
            None,
            _OFFICIAL_TEXT,
            query_fallbacks=_GATEWAY_QUERIES,
            unserved=_GATEWAY_UNSERVED,
        ),
        # The simulator is as strict as the official API; it runs in-process on loopback
        # (its base_url is given when it starts) and accepts any Bearer token by default.
        ProviderName.SIMULATOR: ProviderSpec(
            ProviderName.SIMULATOR, "http://127.0.0.1", "/v1", None, None, _OFFICIAL_TEXT
        ),
    }
)


def slots(kind: JobKind, n: int) -> int:
    """Parallel-task slots a task holds: 1 per video, ``n`` per image task."""
    return n if PACK[kind] is PackType.IMAGE else 1


#: The most images an omni-image series makes (``series_amount: auto`` makes 2 to this many).
MAX_SERIES = 9


def request_slots(kind: JobKind, request: Mapping[str, object]) -> int:
    """Slots a task may hold at most, from its request: an omni-image series holds one per
    image it makes (``series_amount``, at most :data:`MAX_SERIES` for ``auto``, which Kling
    counts only once the images are made); else :func:`slots`.

    >>> request_slots(JobKind.OMNI_IMAGE, {"result_type": "series", "series_amount": "auto"})
    9
    >>> request_slots(JobKind.OMNI_IMAGE, {"n": 3})
    3
    """
    if kind in SYNC_KINDS:  # answered at once: Kling counts no parallel task for it
        return 0
    if kind is JobKind.OMNI_IMAGE and request.get("result_type") == "series":
        amount = request.get("series_amount", 4)
        return amount if isinstance(amount, int) else MAX_SERIES
    count = request.get("n", 1)
    return slots(kind, count if isinstance(count, int) else int(str(count)))
