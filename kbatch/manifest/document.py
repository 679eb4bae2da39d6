"""YAML documents that remember where every value came from.

PyYAML composes a node graph with marks; :func:`load_document` builds plain Python values from it
(dicts, lists, str, int, float, bool, None) and records the line and column of every key and value
under its path, so any later check can point at ``file:line:col``. Unlike ``yaml.safe_load`` it
refuses duplicate keys (PyYAML keeps the last one silently), non-string keys, non-finite numbers,
binary values, and documents that expand past a size bound through aliases.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kbatch.errors import ManifestError
from kbatch.manifest.issues import Issue, Location

PathKey = tuple[str | int, ...]

#: The largest manifest file kbatch reads (rows belong in a foreach file).
MAX_BYTES = 64 * 2**20

#: The most values a document may expand to (through aliases): a guard against "billion laughs".
MAX_VALUES = 2_000_000

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BINARY = "tag:yaml.org,2002:binary"
_FLOAT = "tag:yaml.org,2002:float"
_TOO_DEEP = "the document is nested too deeply"


def json_path(path: Sequence[str | int]) -> str:
    """``("jobs", 3, "duration")`` -> ``$.jobs[3].duration``."""
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            out.append("[" + repr(part) + "]")
    return "".join(out)


@dataclass(frozen=True)
class Document:
    """A loaded YAML file: its data, and the location of every value and key by path."""

    file: str
    data: Any
    values: dict[PathKey, tuple[int, int]] = field(repr=False)
    keys: dict[PathKey, tuple[int, int]] = field(repr=False)
    #: Plain scalars YAML turned into something else than the text written (``16:9`` is the
    #: number 969 in YAML 1.1, ``007`` is 7, ``no`` and ``on`` are booleans): the text, by path.
    coerced: dict[PathKey, str] = field(default_factory=dict, repr=False)

    def hint(self, path: Sequence[str | int]) -> str:
        """A note for a problem with a value YAML read as something else than its text."""
        written = self.coerced.get(tuple(path))
        if written is None:
            return ""
        what = _what(self, path)
        return f' (YAML read {written} as a {what}: write "{written}" to keep it text)'

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> Location:
        """Where the value (with ``key``: the key) at ``path`` stands, else its nearest parent."""
        path = tuple(path)
        if key and path in self.keys:
            return Location(self.file, *self.keys[path])
        while path:
            if path in self.values:
                return Location(self.file, *self.values[path])
            path = path[:-1]
        return Location(self.file, *self.values.get((), (1, 1)))

    def issue(self, path: Sequence[str | int], message: str, *, key: bool = False) -> Issue:
        return Issue(self.locate(path, key=key), json_path(path), message)


def _canonical(value: Any) -> str:
    """How a value would be written back, to tell when YAML read a text as something else.

    >>> _canonical(True), _canonical(7), _canonical(None)
    ('true', '7', 'null')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _what(document: Document, path: Sequence[str | int]) -> str:
    value: Any = document.data
    try:
        for part in path:
            value = value[part]
    except (KeyError, IndexError, TypeError):
        return "value of another type"
    if isinstance(value, bool):
        return f"boolean ({'true' if value else 'false'})"
    return f"number ({value!r})" if value is not None else "null"


def _position(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def _position_of_offset(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n") + 1
    return (line, offset - (before.rfind("\n") + 1) + 1)


def refuse_device(handle: BinaryIO | TextIO) -> None:
    """Raise OSError for a device: ``/dev/zero`` would be read forever. Files and pipes pass."""
    mode = os.fstat(handle.fileno()).st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise OSError(errno.EINVAL, "it is a device, not a file")


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 file (a BOM is allowed), turning every failure into a located ManifestError."""
    try:
        with path.open("rb") as handle:
            refuse_device(handle)
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ManifestError(
            [Issue(Location(display), "$", f"cannot read file: {reason}")]
        ) from None
    if len(raw) > MAX_BYTES:
        message = (
            f"the manifest is larger than {MAX_BYTES // 2**20} MB: "
            "put the rows in a CSV or JSONL file and use foreach"
        )
        raise ManifestError([Issue(Location(display), "$", message)])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = raw[: exc.start].decode("utf-8", errors="replace")
        line, col = _position_of_offset(text, len(text))
        msg = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        raise ManifestError([Issue(Location(display, line, col), "$", msg)]) from None


class _Builder:
    def __init__(self, display: str, loader: yaml.SafeLoader) -> None:
        self.display = display
        self.loader = loader
        self.values: dict[PathKey, tuple[int, int]] = {}
        self.keys: dict[PathKey, tuple[int, int]] = {}
        self.count = 0
        self.merged: dict[int, int] = {}
        self.coerced: dict[PathKey, str] = {}

    def fail(self, node: Node, path: PathKey, message: str) -> ManifestError:
        line, col = _position(node.start_mark)
        return ManifestError([Issue(Location(self.display, line, col), json_path(path), message)])

    def build(self, node: Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.fail(node, path, f"the document expands to more than {MAX_VALUES} values")
        self.values.setdefault(path, _position(node.start_mark))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        raise self.fail(node, path, "unsupported YAML node")  # pragma: no cover

    def scalar(self, node: ScalarNode, path: PathKey) -> Any:
        if node.tag == _TIMESTAMP:
            return node.value  # a date stays the text the user wrote
        if node.tag == _BINARY:
            raise self.fail(node, path, "binary values are not supported; use base64 text")
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(node, path, _problem(exc)) from None
        if node.tag == _FLOAT and not math.isfinite(value):
            raise self.fail(node, path, f"{node.value} is not a finite number")
        if not isinstance(value, str | int | float | bool | type(None)):
            raise self.fail(node, path, f"unsupported YAML type {node.tag}")  # pragma: no cover
        if isinstance(value, str) and (bad := _surrogate(value)):
            raise self.fail(node, path, bad)
        if node.style is None and not isinstance(value, str) and node.value != _canonical(value):
            self.coerced[path] = node.value
        return value

    def mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        key = id(node)
        if key not in self.merged:
            own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            try:
                self.loader.flatten_mapping(node)
            except yaml.YAMLError as exc:
                raise self.fail(node, path, _problem(exc)) from None
            self.merged[key] = len(node.value) - own
        merged = self.merged[key]
        out: dict[str, Any] = {}
        # keys written in this mapping; keys merged in with << may be overridden
        written: dict[str, Node] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, path, "keys must be plain strings")
            name = str(key_node.value)
            if bad := _surrogate(name):
                raise self.fail(key_node, path, bad)
            if index >= merged:
                if name in written:
                    first = _position(written[name].start_mark)[0]
                    msg = f"duplicate key {name!r} (first at line {first})"
                    raise self.fail(key_node, (*path, name), msg)
                written[name] = key_node
            child = (*path, name)
            self.keys[child] = _position(key_node.start_mark)
            if (
                not isinstance(value_node, ScalarNode)
                and value_node.start_mark.line > key_node.start_mark.line
            ):
                # a block list or mapping starts on the next line: its key is where to point
                self.values[child] = self.keys[child]
            out[name] = self.build(value_node, child)
        return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate(text: str) -> str | None:
    """A message if the text holds a lone surrogate (YAML's "\\ud800" escape makes one): such
    text cannot be written out, sent, or even printed."""
    found = _SURROGATE.search(text)
    if found is None:
        return None
    code = f"U+{ord(found.group()):04X}"
    return f"holds {code}, half of a surrogate pair: not text; write the character itself"


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [exc.context, exc.problem]
        return "; ".join(p for p in parts if p) or "invalid YAML"
    return str(exc)


def load_document(path: Path, display: str | None = None) -> Document:
    """Load one YAML document; raise ManifestError (one located issue) if it is not valid YAML."""
    display = display if display is not None else str(path)
    text = read_text(path, display)
    return parse_document(text, display)


def parse_document(text: str, display: str) -> Document:
    """Parse YAML ``text`` (see :func:`load_document`)."""
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except RecursionError:
        raise ManifestError([Issue(Location(display), "$", _TOO_DEEP)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark and "<stream end>" in (exc.problem or ""):
            mark = exc.context_mark  # an unclosed bracket: point where it opened
        line, col = _position(mark) if mark else (1, 1)
        msg = f"invalid YAML: {_problem(exc)}"
        raise ManifestError([Issue(Location(display, line, col), "$", msg)]) from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        line, col = _position_of_offset(text, getattr(exc, "position", 0))
        msg = "invalid YAML: " + str(exc).split("\n", 1)[0]
        raise ManifestError([Issue(Location(display, line, col), "$", msg)]) from None
    if node is None:
        raise ManifestError([Issue(Location(display), "$", "the file is empty")])
    builder = _Builder(display, loader)
    try:
        data = builder.build(node, ())
    except RecursionError:
        raise ManifestError([Issue(Location(display), "$", _TOO_DEEP)]) from None
    finally:
        loader.dispose()
    return Document(display, data, builder.values, builder.keys, builder.coerced)
