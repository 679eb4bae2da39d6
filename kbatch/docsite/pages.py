"""The generated pages and tables of the docs site, as Markdown: one page per kind of job (its
fields from the manifest schema, the models from the capability maps and the catalogue), the
kinds' index, the troubleshooting table of Kling's codes and the commands' reference.

A page of ``docs/`` may hold an intro written by hand and a marker where the generated part
goes (:data:`MARKERS`); a kind with no page of its own gets a generated page whole, so a kind
added to the catalogue and the schema gets its page with no edit here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from kbatch.docsite import codes, commands
from kbatch.docsite.models import kind_paths, model_names, models_column, video_table
from kbatch.docsite.schematext import Node, alternatives, describe, description
from kbatch.manifest.schema import schema
from kbatch.provider import capabilities as caps
from kbatch.provider.catalogue import (
    ENDPOINTS,
    IMAGE_FIELDS,
    PACK,
    PROVIDERS,
    SYNC_KINDS,
    VIDEO_KINDS,
    Dialect,
    JobKind,
    PackType,
)

#: The pages every kind has, by path under ``docs/``.
KINDS_DIR = "kinds"


def kind_path(kind: str) -> str:
    return f"{KINDS_DIR}/{kind}.md"


def kinds() -> list[str]:
    """Every kind, as the schema's job entry lists them (and the catalogue's :class:`JobKind`)."""
    listed: list[str] = schema()["$defs"]["job"]["properties"]["kind"]["enum"]
    return listed


def cell(text: object) -> str:
    """A table cell: pipes escaped, one line."""
    return " ".join(str(text).replace("|", "\\|").split())


def table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _fields(kind: str) -> Mapping[str, Node]:
    found: Mapping[str, Node] = schema()["$defs"][f"{kind}_fields"]["properties"]
    return found


def field_table(kind: str) -> str:
    """One row per field of a kind: its type and limits (the schema), which models take it (the
    capability maps and the catalogue), and the schema's own description."""
    defs = schema()["$defs"]
    job = JobKind(kind) if kind in JobKind.__members__.values() else None
    rows = []
    for name, node in _fields(kind).items():
        kind_of, limits = describe(node, defs)
        models = models_column(job, name) if job is not None else ""
        rows.append((f"`{name}`", kind_of, limits, models, description(node, defs)))
    if any(row[3] for row in rows):
        return table(("field", "type", "limits", "models", "notes"), rows)
    return table(("field", "type", "limits", "notes"), [(a, b, c, e) for a, b, c, _, e in rows])


def _facts(kind: JobKind) -> str:
    pack = PACK[kind]
    slots = "1 per task" if pack is PackType.VIDEO else "`n` per task (one per image it makes)"
    if kind in SYNC_KINDS:  # slice audio: answered at once, Kling counts no parallel task
        slots = "none (Kling answers at once: no task to follow, no external id)"
    route = ENDPOINTS.get((kind, Dialect.OFFICIAL))
    paths = list(kind_paths(kind))
    rows = [("Pack", f"`{pack.value}` (its units and its parallel-task slots)"), ("Slots", slots)]
    if route is not None:
        rows.append(("Route on `/v1`", f"`{route.route}`"))
    if paths:
        rows.append(("Paths on the new API", ", ".join(f"`{path}`" for path in paths)))
    if IMAGE_FIELDS.get(kind):
        rows.append(("Image fields", ", ".join(f"`{f}`" for f in IMAGE_FIELDS.get(kind, ()))))
    unserved = [p.name.value for p in PROVIDERS.values() if kind in p.unserved]
    if unserved:
        rows.append(("Not served by", ", ".join(unserved)))
    return "\n".join(f"- **{name}:** {value}" for name, value in rows) + "\n"


def _text_limits(kind: JobKind) -> str:
    rows = []
    for spec in PROVIDERS.values():
        limits = {f: n for (k, f), n in spec.text_limits.items() if k is kind}
        if limits:
            said = ", ".join(f"`{f}` {n}" for f, n in limits.items())
            rows.append((spec.name.value, said))
    if not rows:
        return ""
    return "### Text limits per provider\n\n" + table(("provider", "characters at most"), rows)


def capability_table(kind: JobKind) -> str:
    """The capability map of a video kind: each model's modes, durations and where each feature
    works (what ``kbatch validate`` holds a job to on the ``/v1`` routes)."""
    features = list(caps.FEATURES)
    head = ("model", "modes", "durations", *(f"`{f}`" for f in features))
    rows = []
    for model, cap in video_table(kind).items():
        name = f"{model} (legacy)" if cap.legacy else model
        where = [cap.where(f) if cap.features.get(f, caps.NONE) else "no" for f in features]
        rows.append((name, ", ".join(cap.modes) or "one quality", _span(cap.durations), *where))
    return table(head, rows)


def _span(durations: tuple[str, ...]) -> str:
    return f"{durations[0]} to {durations[-1]}" if len(durations) > 2 else ", ".join(durations)


def paths_table(kind: JobKind) -> str:
    """Each path of Kling's new API a kind is sent to, with what its page allows."""
    rows = []
    for path, cap in kind_paths(kind).items():
        rows.append(
            (
                f"`{path}`",
                ", ".join(cap.modes),
                _span(cap.durations),
                str(cap.prompt_limit),
                ", ".join(cap.aspect_ratios) or "-",
                ", ".join(cap.sound_modes) or "no",
                (", ".join(cap.tail_modes) + (" (silent)" if cap.tail_silent else "")) or "no",
                str(cap.elements),
                str(cap.voices),
                "yes" if cap.shots else "no",
            )
        )
    head = ("path", "modes", "durations", "prompt", "aspect ratios", "sound", "last frame")
    return table((*head, "elements", "voices", "shots in the prompt"), rows) if rows else ""


def kind_body(kind: str) -> str:
    """What every kind's page shows, generated: facts, fields, limits, models."""
    job = JobKind(kind) if kind in JobKind.__members__.values() else None
    parts = []
    if job is not None:
        parts.append(_facts(job))
    parts.append("## Fields\n\nBesides `kind`, `id`, `foreach` and `matrix` (see ")
    parts[-1] += (
        "[the manifest](../manifest.md#jobs)); any field may also hold a `${placeholder}`.\n\n"
    )
    parts.append(field_table(kind))
    if job is not None:
        parts.append(_text_limits(job))
    if job in VIDEO_KINDS:
        parts.append("## What each model takes\n\n" + capability_table(job))
    if job is not None and (paths := paths_table(job)):
        parts.append("## On Kling's new API\n\n" + paths)
    return "\n".join(part for part in parts if part)


def kind_page(kind: str) -> str:
    """The page of a kind that has no page written by hand (its tables filled by :func:`fill`)."""
    return f"# `{kind}`\n\nJobs of kind `{kind}`.\n\n<!-- kbatch:fields -->\n"


def kinds_index() -> str:
    """The table of every kind: its pack, slots, models and page."""
    rows = []
    for kind in kinds():
        job = JobKind(kind) if kind in JobKind.__members__.values() else None
        pack = PACK[job].value if job is not None else ""
        models = ", ".join(model_names(job)) if job is not None else ""
        if not models:  # a kind whose models only the schema lists
            node = _fields(kind).get("model_name", {})
            models = ", ".join(next((f["enum"] for f in alternatives(node) if "enum" in f), []))
        rows.append((f"[`{kind}`]({kind}.md)", pack, models))
    return table(("kind", "pack", "models"), rows)


#: Markers a page written by hand puts where a generated part goes, and what fills them.
MARKERS: Mapping[str, Callable[[str], str]] = {
    "<!-- kbatch:fields -->": kind_body,
    "<!-- kbatch:kinds -->": lambda _: kinds_index(),
    "<!-- kbatch:codes -->": lambda _: codes.codes_page(),
    "<!-- kbatch:commands -->": lambda _: commands.commands_page(),
}
#: Pages that must hold their marker (a kind's page: the fields one).
GENERATED: Mapping[str, str] = {
    f"{KINDS_DIR}/index.md": "<!-- kbatch:kinds -->",
    "troubleshooting.md": "<!-- kbatch:codes -->",
    "commands.md": "<!-- kbatch:commands -->",
}


def required_marker(path: str) -> str | None:
    """The marker a page must hold, if any."""
    if path in GENERATED:
        return GENERATED[path]
    if path.startswith(f"{KINDS_DIR}/") and path.removesuffix(".md").split("/")[-1] in kinds():
        return "<!-- kbatch:fields -->"
    return None


def fill(path: str, markdown: str) -> str:
    """A page with its markers (each alone on a line) replaced by what they stand for;
    ValueError when a page that must hold a marker lacks it (a table written by hand there
    would go stale)."""
    lines = markdown.split("\n")
    needed = required_marker(path)
    if needed is not None and needed not in lines:
        raise ValueError(
            f"docs/{path} must hold {needed} where its generated tables go: they are made from "
            "the code's tables, never written by hand"
        )
    kind = path.removesuffix(".md").split("/")[-1]
    return "\n".join(MARKERS[line](kind) if line in MARKERS else line for line in lines)


def generated_pages(existing: set[str]) -> Iterator[tuple[str, str]]:
    """``(path, markdown)`` of each kind's page that ``docs/`` has no page for."""
    for kind in kinds():
        if kind_path(kind) not in existing:
            yield kind_path(kind), kind_page(kind)


def nav_kinds() -> list[Any]:
    """The kinds' section of the navigation: the index, then one page per kind."""
    return [f"{KINDS_DIR}/index.md", *(kind_path(kind) for kind in kinds())]
