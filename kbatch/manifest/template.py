"""``${name}`` placeholders in manifest values.

A string is compiled once per job template into a :class:`Template`; each foreach row and matrix
combination then renders it. ``$$`` is a literal ``$``; a ``$`` before anything else is kept.
A value that is exactly one placeholder takes the variable's own type (a JSONL number stays a
number, a matrix list stays a list); inside text, variables are written as text.
Lists and mappings are compiled recursively: :func:`compile_value` returns the value itself when it
holds no placeholder, so constant fields cost nothing per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kbatch.manifest.issues import show


class TemplateError(ValueError):
    """A placeholder is malformed, or has no value. Internal: the loader turns it into an Issue."""


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Template:
    """A string with placeholders."""

    parts: tuple[str | Var, ...]
    names: frozenset[str]

    def render(self, variables: Mapping[str, Any]) -> Any:
        if len(self.parts) == 1 and isinstance(self.parts[0], Var):
            return _lookup(self.parts[0].name, variables)
        out: list[str] = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _as_text(part.name, variables))
        return "".join(out)


@dataclass(frozen=True, slots=True)
class ListTemplate:
    items: tuple[Any, ...]
    names: frozenset[str]

    def render(self, variables: Mapping[str, Any]) -> list[Any]:
        return [render(item, variables) for item in self.items]


@dataclass(frozen=True, slots=True)
class DictTemplate:
    items: tuple[tuple[str, Any], ...]
    names: frozenset[str]

    def render(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return {key: render(item, variables) for key, item in self.items}


Compiled = Template | ListTemplate | DictTemplate


def render(value: Any, variables: Mapping[str, Any]) -> Any:
    """Render a compiled value; a constant is returned as it is."""
    if isinstance(value, Template | ListTemplate | DictTemplate):
        return value.render(variables)
    return value


def _lookup(name: str, variables: Mapping[str, Any]) -> Any:
    try:
        value = variables[name]
    except KeyError:
        raise TemplateError(f"${{{name}}} has no value") from None
    if value is None:
        raise TemplateError(f"${{{name}}} has no value (null)")
    return value


def _as_text(name: str, variables: Mapping[str, Any]) -> str:
    value = _lookup(name, variables)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"${{{name}}} is {show(value)}, which cannot be written inside text")


def compile_string(text: str) -> str | Template:
    """Compile one string: the unescaped string itself if it holds no placeholder."""
    if "$" not in text:
        return text
    parts: list[str | Var] = []
    buf: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            buf.append(text[i:])
            break
        buf.append(text[i:j])
        follower = text[j + 1 : j + 2]
        if follower == "$":
            buf.append("$")
            i = j + 2
        elif follower == "{":
            end = text.find("}", j + 2)
            if end < 0:
                raise TemplateError(f"unclosed placeholder in {show(text)}: '${{' without '}}'")
            name = text[j + 2 : end]
            if not name.strip() or "{" in name or "$" in name:
                raise TemplateError(
                    f"bad placeholder '${{{name}}}': write ${{column}} (or $$ for a '$')"
                )
            literal = "".join(buf)
            if literal:
                parts.append(literal)
            buf = []
            parts.append(Var(name))
            i = end + 1
        else:
            buf.append("$")
            i = j + 1
    literal = "".join(buf)
    if literal:
        parts.append(literal)
    if not any(isinstance(p, Var) for p in parts):
        return literal
    names = frozenset(p.name for p in parts if isinstance(p, Var))
    return Template(tuple(parts), names)


def compile_value(value: Any) -> Any:
    """Compile a JSON-like value: a constant comes back unchanged (strings unescaped)."""
    if isinstance(value, str):
        return compile_string(value)
    if isinstance(value, list):
        items = tuple(compile_value(v) for v in value)
        names = _names(items)
        return ListTemplate(items, names) if names else list(items)
    if isinstance(value, dict):
        pairs = tuple((k, compile_value(v)) for k, v in value.items())
        names = _names(v for _, v in pairs)
        return DictTemplate(pairs, names) if names else dict(pairs)
    return value


def names_in(value: Any) -> frozenset[str]:
    """The placeholder names a compiled value uses."""
    if isinstance(value, Template | ListTemplate | DictTemplate):
        return value.names
    return frozenset()


def _names(items: Any) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for item in items:
        out |= names_in(item)
    return out
