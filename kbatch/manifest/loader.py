"""Manifests: load, check everything that can be checked before spending money, expand into jobs.

::

    validation = validate("manifests/demo.yaml")      # never raises for bad input
    for issue in validation.issues: print(issue)       # file:line:col: $.jobs[3].duration: ...

    manifest = load_manifest("manifests/demo.yaml")    # raises ManifestError with every issue
    for job in manifest.jobs(): ...                    # streamed, validated, fingerprinted

A manifest is checked in passes, each reporting every problem it finds: YAML (with positions,
duplicate keys refused), literal credentials and ``external_task_id`` refused, the JSON Schema,
settings that span fields, then every job: its foreach rows, placeholders, the rules of
:mod:`kbatch.manifest.checks`, its images, unique ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kbatch.errors import ManifestError
from kbatch.images import Inspector
from kbatch.manifest import effects, schema
from kbatch.manifest.document import Document, PathKey, load_document
from kbatch.manifest.entries import JobTemplate, build_templates
from kbatch.manifest.expansion import Context, expand
from kbatch.manifest.forbidden import refuse_forbidden_keys
from kbatch.manifest.graph import Graph, GraphBuilder
from kbatch.manifest.inputs import damaged_images
from kbatch.manifest.issues import Issue, IssueLog
from kbatch.manifest.jobs import Job
from kbatch.manifest.media import Uploads, read_media
from kbatch.manifest.quantities import budgets, parse_duration
from kbatch.manifest.summary import Summary
from kbatch.media import MediaSettings
from kbatch.pricing import DEFAULT as DEFAULT_PRICES
from kbatch.pricing import PriceTable
from kbatch.provider import catalogue
from kbatch.provider.catalogue import JobKind, PackType, ProviderName
from kbatch.provider.config import DEFAULT_SECRET_ENV, Api, Listen, ProviderConfig

__all__ = [
    "Job",
    "Limits",
    "Manifest",
    "Output",
    "ProviderConfig",
    "Summary",
    "Validation",
    "load_manifest",
    "parse_duration",
    "read_settings",
    "validate",
]

#: max_in_flight to check jobs with when the manifest's own limits are broken: no slot check.
_NO_SLOT_CHECK = 10**9


@dataclass(frozen=True, slots=True)
class Limits:
    """How hard to push the provider. Durations are in seconds."""

    max_in_flight: int = 5
    submit_per_minute: float = 60.0
    max_attempts: int = 3
    task_timeout: float = 4200.0  # 70 min: Kling's long tasks fit (Comfy waits about 68)
    #: The shortest pause between two status checks of a route; None: the provider's pace
    #: (1 s on Kling, 20 s on CometAPI, which asks for it).
    poll_interval: float | None = None
    poll_max: float = 60.0  # the longest any task goes unchecked
    #: Per pack; a pack that is absent has no budget.
    budget_units: Mapping[PackType, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Output:
    dir: Path
    download: bool = True


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest: its settings, and its job entries ready to expand."""

    path: Path
    name: str
    provider: ProviderConfig
    limits: Limits
    output: Output
    templates: tuple[JobTemplate, ...]
    document: Document = field(repr=False)
    pricing: PriceTable = field(default=DEFAULT_PRICES, repr=False)
    callbacks: Listen | None = None  # where to receive the provider's callbacks
    media: MediaSettings | None = None  # local files sent by URL (media: store or serve)
    #: Which job takes from which (``job:<id>``), as validation found it.
    graph: Graph = field(default_factory=Graph, repr=False)

    def jobs(self) -> Iterator[Job]:
        """Stream the jobs; raise ManifestError if a problem turns up (a file changed since).
        A job that takes from others has its Merkle fingerprint (:mod:`kbatch.manifest.graph`)."""
        log = IssueLog()
        merkle = self.graph.fingerprints
        for job in expand(self.templates, self._context(), log):
            own = merkle.get(job.id)
            yield job if own is None or own == job.fingerprint else replace(job, fingerprint=own)
        if len(log):
            raise ManifestError(log.issues())

    def _context(self, *, decode: bool = False) -> Context:
        spec, slots = self.provider.spec, self.limits.max_in_flight
        api, media = self.provider.api, self.media
        return _context(self.path, self.document, spec, slots, decode=decode, api=api, media=media)


def _context(
    path: Path,
    document: Document,
    provider: catalogue.ProviderSpec,
    slots: int,
    *,
    decode: bool,
    api: Api = Api.AUTO,
    media: MediaSettings | None = None,
) -> Context:
    """With ``decode`` (validation), every local image is decoded in full, not only its header;
    a run's own expansion (after validation) reads headers only."""
    base = path.parent.resolve()
    inspector = Inspector(decode=decode)
    return Context(document, base, provider, slots, inspector, api=api, media=media)


@dataclass(frozen=True)
class Validation:
    """The outcome of checking a manifest: every issue (the errors), the warnings (which
    refuse nothing), and a summary of the valid jobs."""

    path: Path
    manifest: Manifest | None
    issues: tuple[Issue, ...]
    summary: Summary
    warnings: tuple[Issue, ...] = ()
    uploads: Uploads = field(default_factory=Uploads)  # local files the run sends by URL

    @property
    def ok(self) -> bool:
        return not self.issues


def validate(
    path: str | Path, *, keep: int = 10, on_job: Callable[[Job], None] | None = None
) -> Validation:
    """Check a manifest completely. Never raises for bad input: the issues are in the result.
    ``on_job`` sees every valid job as it is checked (the run records them in its state)."""
    path = Path(path)
    summary = Summary(keep=keep)
    try:
        document = load_document(path, str(path))
    except ManifestError as exc:
        return Validation(path, None, exc.issues, summary)
    log = IssueLog()
    manifest, templates, context = _build(path, document, log, decode=True)
    uploads = Uploads()
    graph = Graph()
    if context is not None:
        context.graph = builder = GraphBuilder()
        summary.api = context.api
        scenes = effects.read_scenes(document, context.base_dir, log)
        for job in expand(templates, context, log):
            if not effects.admit(job, scenes, document, log):
                continue
            summary.add(job)
            uploads.add((job,), context.media)
            if on_job is not None:
                on_job(job)
        damaged_images(context.inspector, context.image_users, log)
        graph = builder.finish(log)
    valid = replace(manifest, graph=graph) if manifest is not None and not len(log) else None
    return Validation(path, valid, tuple(log.issues()), summary, tuple(log.warnings()), uploads)


def load_manifest(path: str | Path) -> Manifest:
    """Load and fully check a manifest; raise ManifestError with every issue if it is not valid."""
    validation = validate(path, keep=0)
    if validation.manifest is None:
        raise ManifestError(validation.issues)
    return validation.manifest


def read_settings(path: str | Path) -> Manifest:
    """A manifest's settings (provider, limits, output) without expanding or checking its jobs:
    quick, for commands that only need to know where the state and the results are."""
    path = Path(path)
    document = load_document(path, str(path))
    log = IssueLog()
    manifest, _, _ = _build(path, document, log)
    if manifest is None:
        raise ManifestError(log.issues())
    return manifest


_Built = tuple["Manifest | None", list[JobTemplate], Context | None]


def _build(path: Path, document: Document, log: IssueLog, *, decode: bool = False) -> _Built:
    """The manifest (None if anything is wrong), and what its jobs can be checked with even so.

    Jobs are checked whatever else is wrong, so that one run reports every problem: with a broken
    provider they are held to the official limits, with broken limits the slot check is skipped.
    """
    data = document.data
    if not isinstance(data, dict):
        log.add(document.issue((), "a manifest is a mapping with version, name, provider and jobs"))
        return None, [], None
    refused = refuse_forbidden_keys(document, data, (), log)
    problems = schema.problems(schema.written_validator(), data)
    broken: set[PathKey] = set()
    reported: set[PathKey] = set(refused)  # every path with a problem, for the jobs' checks
    for where, message, key in problems:
        if any(where[: len(r)] == r for r in refused):
            continue
        log.add(document.issue(where, message + document.hint(where), key=key))
        broken.add(where[:2])
        reported.add(where)
    for where in refused:
        broken.add(where[:2])
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not isinstance(data.get("defaults", {}), dict):
        return None, [], None
    poll_sound = _check_poll(document, data, broken, log)
    sound = _sound("media", broken)
    media = read_media(document, data.get("media"), log, parse_duration, sound=sound)
    settings = _settings(path, document, data, broken, log) if poll_sound else None
    defaults = {
        kind: value
        for kind, value in data.get("defaults", {}).items()
        if ("defaults", kind) not in broken
    }
    broken_kinds = {kind for kind in data.get("defaults", {}) if ("defaults", kind) in broken}
    entries = {
        index: fields
        for index, entry in enumerate(jobs)
        if (fields := _broken_fields(index, reported)) is not None
        and entry.get("kind") not in broken_kinds
    }
    templates = build_templates(document, defaults, entries, log, schema.FieldChecker())
    if settings is None:
        return None, templates, _unsound(path, document, data, broken, decode, media)
    name, provider, limits, output = settings
    pricing = DEFAULT_PRICES.override(data.get("pricing", {}))
    listen = _listen(document, data.get("callbacks"), log)
    manifest = Manifest(
        path, name, provider, limits, output, tuple(templates), document, pricing, listen, media
    )
    return manifest, templates, manifest._context(decode=decode)


def _unsound(
    path: Path,
    document: Document,
    data: Mapping[str, Any],
    broken: set[PathKey],
    decode: bool,
    media: MediaSettings | None,
) -> Context:
    """Jobs' checks with broken settings: official limits; no slot check if limits broke."""
    provider_spec = catalogue.PROVIDERS[_provider_name(data, broken)]
    given, slots = data.get("limits"), Limits().max_in_flight
    slots = given.get("max_in_flight", slots) if isinstance(given, dict) else slots
    if not _sound("limits", broken):
        slots = _NO_SLOT_CHECK
    api = _api(data, broken)
    return _context(path, document, provider_spec, slots, decode=decode, api=api, media=media)


def _listen(document: Document, given: Any, log: IssueLog) -> Listen | None:
    """``callbacks:`` as a Listen (the schema checked its shape; the port's range is here)."""
    if not isinstance(given, dict):
        return None
    address = given["listen"]
    public_url = given.get("public_url", f"http://{address}")
    found = Listen.problem(address, public_url)
    if found is not None:
        name, reason = found
        log.add(document.issue(("callbacks", name), reason))
        return None
    listen = Listen.parse(address, public_url)
    return replace(listen, secret_env=given.get("secret_env", DEFAULT_SECRET_ENV))


def _check_poll(
    document: Document, data: Mapping[str, Any], broken: set[PathKey], log: IssueLog
) -> bool:
    """poll_max is not shorter than poll_interval: checked whatever else of limits is broken."""
    limits = data.get("limits")
    if not isinstance(limits, dict):
        return True
    if ("limits", "poll_interval") in broken or ("limits", "poll_max") in broken:
        return True  # reported already
    if "poll_interval" not in limits:
        return True  # the provider's pace, which is under the longest allowed
    interval = parse_duration(limits["poll_interval"])
    longest = parse_duration(limits.get("poll_max", Limits().poll_max))
    if longest >= interval:
        return True
    message = f"poll_max ({longest:g}s) is shorter than poll_interval ({interval:g}s)"
    log.add(document.issue(("limits", "poll_max"), message))
    return False


def _broken_fields(index: int, reported: set[PathKey]) -> frozenset[str] | None:
    """The fields of job entry ``index`` that the schema pass reported, so that its other
    checks still run (every problem at once); None when the entry as a whole is broken (not a
    mapping, no sound kind)."""
    fields = set()
    for where in reported:
        if where[:2] != ("jobs", index):
            continue
        if len(where) == 2 or where[2] == "kind":
            return None
        fields.add(str(where[2]))
    return frozenset(fields)


def _provider_name(data: Mapping[str, Any], broken: set[PathKey]) -> ProviderName:
    """The manifest's provider if it is sound, else the official API (whose limits are widest)."""
    provider = data.get("provider")
    name = provider.get("name") if isinstance(provider, dict) else provider
    sound = _sound("provider", broken)
    return ProviderName(name) if sound and name in set(ProviderName) else ProviderName.KLING


def _api(data: Mapping[str, Any], broken: set[PathKey]) -> Api:
    """The manifest's provider.api if it is sound (its jobs are checked against their targets'
    rules even when other settings are broken), else auto."""
    provider = data.get("provider")
    api = provider.get("api") if isinstance(provider, dict) else None
    sound = ("provider", "api") not in broken and ("provider",) not in broken
    return Api(api) if sound and api in set(Api) else Api.AUTO


def _sound(section: str, broken: set[PathKey]) -> bool:
    """Whether the schema pass found nothing wrong in a top-level section."""
    return not any(where[:1] == (section,) for where in broken)


def _settings(
    path: Path, document: Document, data: Mapping[str, Any], broken: set[PathKey], log: IssueLog
) -> tuple[str, ProviderConfig, Limits, Output] | None:
    """The run settings, or None when the schema pass found them broken (already reported)."""
    sections = ("version", "name", "provider", "limits", "output", "pricing", "callbacks")
    if () in broken or not all(_sound(section, broken) for section in sections):
        return None
    provider = data["provider"]
    if isinstance(provider, str):
        provider = {"name": provider}
    dialect = provider.get("dialect")
    config = ProviderConfig(
        ProviderName(provider["name"]),
        base_url=provider.get("base_url"),
        api_key_env=provider.get("api_key_env"),
        prefix=provider.get("prefix"),
        dialect=catalogue.Dialect(dialect) if dialect else None,
        routes={JobKind(kind): route for kind, route in provider.get("routes", {}).items()},
        check_capabilities=provider.get("check_capabilities", True),
        account=provider.get("account"),
        api=Api(provider.get("api", Api.AUTO.value)),
    )
    raw = dict(data.get("limits", {}))
    for key in ("task_timeout", "poll_interval", "poll_max"):
        if key in raw:
            raw[key] = parse_duration(raw[key])
    raw["budget_units"] = budgets(raw.get("budget_units"))
    limits = Limits(**raw)
    out = data.get("output", {})
    base = path.parent.resolve()
    directory = base / out["dir"] if "dir" in out else base / "out" / data["name"]
    return data["name"], config, limits, Output(directory, out.get("download", True))
