"""The graph of a manifest's jobs: which job takes from which, checked, staged, fingerprinted.

Validation adds every job to a :class:`GraphBuilder` as it expands (its kind, what it makes,
and where it names another job), then :meth:`GraphBuilder.finish` checks each reference against
the job it names (one that exists, of the output type the field takes, ``#k`` within what it
makes, the rules its request decides: an image's aspect ratio) and refuses cycles, naming every
job on one. The :class:`Graph` it returns gives each job in a pipeline its Merkle fingerprint (its
own, with those of the jobs it takes from), its stage (depth) and its dependents.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kbatch import pricing
from kbatch.manifest import records
from kbatch.manifest.handoffs import Clip, clip_of, video_limits
from kbatch.manifest.issues import Issue, IssueLog
from kbatch.manifest.references import (
    MADE_BY,
    RATIO_FIELDS,
    TAKES,
    FieldPath,
    OutputType,
    Reference,
    field_name,
    found_in,
    makes,
)
from kbatch.provider import catalogue
from kbatch.provider.catalogue import PACK, JobKind, PackType
from kbatch.videos import VideoLimits

#: Kling's aspect-ratio rule of a main image: 1:2.5 to 2.5:1.
_RATIO_LOW, _RATIO_HIGH = 1 / 2.5, 2.5
#: The aspect ratio a kind's images have when its request names none.
_DEFAULT_RATIO: Mapping[JobKind, str] = {JobKind.TEXT2IMAGE: "16:9"}


@dataclass(frozen=True, slots=True)
class Site:
    """A reference where a job names it: the field's path in the request, and the issue a
    problem of it makes (its file, line and field; the message is filled in)."""

    path: FieldPath
    reference: Reference
    issue: Issue


@dataclass(frozen=True, slots=True)
class Node:
    """What the graph needs of a job."""

    kind: JobKind
    fingerprint: str  # its own, over its request as written
    outputs: int | None  # how many outputs it makes; None: not known until it ends
    ratio: float | None  # its images' aspect ratio (width / height), when its request says
    expansion: float = 1.0  # image_expand: what its canvas multiplies the image's ratio by
    sites: tuple[Site, ...] = ()
    slots: int = 1  # the slot-tasks it holds
    price: pricing.Key | None = None  # what its price depends on
    clip: Clip | None = None  # what its request decides of the video it makes
    limits: VideoLimits | None = None  # what its ``video`` field takes
    speaks: bool = False  # its video can make a voice (records.speaks)


@dataclass
class Stage:
    """The jobs at one depth of the graph: how many, their slot-tasks and price keys."""

    jobs: int = 0
    slots: Counter[PackType] = field(default_factory=Counter)
    prices: Counter[pricing.Key] = field(default_factory=Counter)

    def units(self, table: pricing.PriceTable) -> dict[PackType, float]:
        """The stage's estimate per pack, one attempt per job."""
        out: dict[PackType, float] = {}
        for key, count in self.prices.items():
            pack = PACK[key[0]]
            out[pack] = out.get(pack, 0.0) + table.price(key) * count
        return out


def node_of(
    kind: JobKind,
    request: Mapping[str, Any],
    own: str,
    sites: Iterable[Site],
    sent: Mapping[str, Any],
) -> Node:
    """A job's node, from its normalised request (``own``: its own fingerprint; ``sent``:
    the request as it is sent, which its price is read from)."""
    outputs: int | None = int(request.get("n", 1))
    if kind is JobKind.OMNI_IMAGE and request.get("result_type") == "series":
        amount = request.get("series_amount", 4)
        outputs = None if amount == "auto" else int(amount)
    if MADE_BY.get(kind) is not OutputType.IMAGE:
        outputs = 1
    if kind is JobKind.SUBJECT_COMPLETION:  # three views of the subject
        outputs = records.VIEWS
    written = request.get("aspect_ratio", _DEFAULT_RATIO.get(kind))
    expansion = 1.0
    if kind is JobKind.IMAGE_EXPAND:
        up, down, left, right = (float(request.get(s, 0)) for s in catalogue.EXPANSION_SIDES)
        expansion = (1 + left + right) / (1 + up + down)
    slots = catalogue.request_slots(kind, sent)
    key = pricing.key(kind, sent)
    ratio = _ratio(written)
    clip, limits = clip_of(kind, request, ratio), video_limits(kind, request)
    speaks = records.speaks(kind, request)
    return Node(
        kind, own, outputs, ratio, expansion, tuple(sites), slots, key, clip, limits, speaks
    )


def _ratio(written: Any) -> float | None:
    if not isinstance(written, str) or ":" not in written:
        return None
    width, _, height = written.partition(":")
    try:
        return float(width) / float(height)
    except (ValueError, ZeroDivisionError):
        return None


@dataclass
class Graph:
    """The checked graph: for each job in a pipeline, the jobs it takes from (``upstreams``),
    those that take from it (``dependents``), its stage and Merkle fingerprint. A job in no
    pipeline is in none of these (its stage is 0, its fingerprint its own)."""

    upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dependents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    #: Every job of the manifest counted at its depth (a job in no pipeline is at 0).
    depths: dict[int, Stage] = field(default_factory=dict)

    @property
    def piped(self) -> bool:
        """Whether any job takes from another."""
        return bool(self.upstreams)

    def stage(self, job_id: str) -> int:
        return self.stages.get(job_id, 0)

    def fingerprint(self, job_id: str, own: str) -> str:
        return self.fingerprints.get(job_id, own)

    def below(self, job_ids: Iterable[str]) -> list[str]:
        """Every job that takes from ``job_ids``, directly or not (each once, nearest first)."""
        seen: set[str] = set(job_ids)
        order: list[str] = []
        frontier = list(seen)
        while frontier:
            nxt: list[str] = []
            for job_id in frontier:
                for dependent in self.dependents.get(job_id, ()):
                    if dependent not in seen:
                        seen.add(dependent)
                        order.append(dependent)
                        nxt.append(dependent)
            frontier = nxt
        return order


class GraphBuilder:
    """Collects every job's node as validation expands them, then checks and builds the graph."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        #: Jobs with a problem of their own (said already): a reference to one says nothing.
        self.broken: set[str] = set()

    def add(self, job_id: str, node: Node) -> None:
        self.nodes[job_id] = node

    def finish(self, log: IssueLog) -> Graph:
        """The graph; each problem of a reference goes to ``log`` at the place it is written."""
        graph = Graph()
        nodes = self.nodes
        for job_id, node in nodes.items():
            ups: list[str] = []
            for site in node.sites:
                if site.reference.job_id in self.broken:
                    continue  # its own problem is said
                problem = self._problem(site, node)
                if problem is not None:
                    log.add(Issue(site.issue.location, site.issue.path, problem))
                elif site.reference.job_id not in ups:
                    ups.append(site.reference.job_id)
            if ups:
                graph.upstreams[job_id] = tuple(ups)
        dependents: dict[str, list[str]] = {}
        for job_id, taken in graph.upstreams.items():
            for up in taken:
                dependents.setdefault(up, []).append(job_id)
        graph.dependents = {up: tuple(ids) for up, ids in dependents.items()}
        for cycle in _cycles(graph.upstreams):
            site = next(s for s in nodes[cycle[0]].sites if s.reference.job_id in cycle)
            path = " -> ".join((*cycle, cycle[0]))
            message = f"a cycle of references: {path}; no job of it could ever start"
            log.add(Issue(site.issue.location, site.issue.path, message))
        if not len(log):
            self._stage(graph)
            for job_id, node in nodes.items():
                stage = graph.depths.setdefault(graph.stage(job_id), Stage())
                stage.jobs += 1
                stage.slots[PACK[node.kind]] += node.slots
                if node.price is not None:
                    stage.prices[node.price] += 1
            graph.depths = dict(sorted(graph.depths.items()))
        return graph

    def _problem(self, site: Site, node: Node) -> str | None:
        reference, name = site.reference, field_name(site.path)
        upstream = self.nodes.get(reference.job_id)
        if upstream is None:
            close = difflib.get_close_matches(reference.job_id, list(self.nodes), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            return f"{reference} names no job of this manifest{hint}"
        taking, made = TAKES[name], MADE_BY[upstream.kind]
        if not makes(upstream.kind, taking.output):
            return (
                f"{reference}: {name} takes {_a(taking.output)}, and job {reference.job_id} "
                f"({upstream.kind}) makes {_a(made)}"
            )
        count = upstream.outputs
        what = f"job {reference.job_id} ({upstream.kind})"
        if reference.index is not None and count is not None and reference.index >= count:
            made_text = f"{count} {made}" + ("s" if count != 1 else "")
            return f"{reference}: {what} makes {made_text} (#0 to #{count - 1})"
        if reference.index is None and (count is None or count > 1):
            many = "several" if count is None else str(count)
            return f"{reference}: {what} makes {many} {made}s: name one, {reference}#0 ..."
        ratio = self._ratio(reference.job_id)
        if name in RATIO_FIELDS and ratio is not None and not _RATIO_LOW <= ratio <= _RATIO_HIGH:
            return (
                f"{reference}: {what} makes images of aspect ratio {ratio:.3g} (width/height); "
                f"Kling takes {name} from 1:2.5 to 2.5:1"
            )
        if name == "video_id" and node.kind is JobKind.VOICE and not upstream.speaks:
            return f"{reference}: {records.NOT_SPOKEN}; {what} is not one"
        video = name == "video" or (name == "video_url" and node.kind is JobKind.ELEMENT)
        if video and node.limits is not None and upstream.clip is not None:
            broken = upstream.clip.problems(node.limits)
            if broken:  # decided by the upstream's request (duration, mode, aspect ratio)
                return f"{reference}: the video {what} makes " + "; ".join(broken)
        return None

    def _ratio(self, job_id: str, depth: int = 0) -> float | None:
        """The aspect ratio of a job's images, when requests decide it (an image_expand of a
        made image: that image's, times its canvas)."""
        node = self.nodes.get(job_id)
        if node is None or depth > 50:
            return None
        if node.kind is JobKind.IMAGE_EXPAND:
            source = next((s for s in node.sites if s.path == ("image",)), None)
            if source is None:
                return None
            base = self._ratio(source.reference.job_id, depth + 1)
            return None if base is None else base * node.expansion
        return node.ratio

    def _stage(self, graph: Graph) -> None:
        """Stages and Merkle fingerprints, upstream first (the graph has no cycle)."""
        order = _topological(graph.upstreams)
        for job_id in order:
            ups = graph.upstreams.get(job_id, ())
            if not ups and job_id not in graph.dependents:
                continue
            node = self.nodes[job_id]
            graph.stages[job_id] = 1 + max((graph.stages[u] for u in ups), default=-1)
            if not ups:
                graph.fingerprints[job_id] = node.fingerprint
                continue
            parts = sorted(
                f"{s.reference}={graph.fingerprints[s.reference.job_id]}" for s in node.sites
            )
            text = "\n".join((node.fingerprint, *parts))
            graph.fingerprints[job_id] = hashlib.sha256(text.encode()).hexdigest()


def _a(output: OutputType) -> str:
    return f"an {output}" if output.value[0] in "aeiou" else f"a {output}"


def _topological(upstreams: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The jobs of the graph, each after every job it takes from."""
    order: list[str] = []
    done: set[str] = set()
    for start in upstreams:
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(upstreams.get(start, ())))]
        if start in done:
            continue
        done.add(start)
        while stack:
            job_id, ups = stack[-1]
            up = next(ups, None)
            if up is None:
                stack.pop()
                order.append(job_id)
            elif up not in done:
                done.add(up)
                stack.append((up, iter(upstreams.get(up, ()))))
    return order


def _cycles(upstreams: Mapping[str, tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Each cycle of references once, as the jobs on it (Tarjan's strongly connected parts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[tuple[str, ...]] = []
    counter = 0
    for root in upstreams:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(upstreams.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            job_id, ups = work[-1]
            up = next(ups, None)
            if up is not None:
                if up not in index:
                    index[up] = low[up] = counter
                    counter += 1
                    stack.append(up)
                    on_stack.add(up)
                    work.append((up, iter(upstreams.get(up, ()))))
                elif up in on_stack:
                    low[job_id] = min(low[job_id], index[up])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[job_id])
            if low[job_id] == index[job_id]:
                part: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == job_id:
                        break
                if len(part) > 1 or job_id in upstreams.get(job_id, ()):
                    found.append(tuple(reversed(part)))
    return found


def sites_of(request: Mapping[str, Any]) -> Iterator[tuple[FieldPath, Reference]]:
    """The references of a request, with their field paths."""
    return found_in(request)


__all__ = ["Graph", "GraphBuilder", "Node", "Site", "node_of", "sites_of"]
