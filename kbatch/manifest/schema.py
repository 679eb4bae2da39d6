"""The manifest JSON Schema, its validators, and error messages a person can act on.

The schema (``schemas/manifest.schema.json``, shipped in the wheel) describes the manifest as
written: any field may hold a ``${placeholder}`` string (``$defs/template``). The loader validates
the document against it once, then validates each value that a foreach row or matrix filled in
against the same schema with ``$defs/template`` set to ``false`` (:class:`FieldChecker`), so
one file is the single source of truth for types, ranges and enums.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kbatch.manifest.issues import show
from kbatch.provider.catalogue import PACK, JobKind, PackType

KINDS = (
    "image_expand",
    "multi_image2image",
    "image2video",
    "text2video",
    "text2image",
    "omni_image",
    "video_effects",
    # slice audio
    "tts",
    "text2audio",
    "video2audio",
    # slice faces (issue 31)
    "avatar",
    "lip_sync",
    # slice records (issue 31)
    "element",
    "voice",
    "subject_completion",
)
TEMPLATE_REF = {"$ref": "#/$defs/template"}
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "null",
}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

#: A problem inside a value: the path below the value, the message, and whether it is about a key.
Problem = tuple[tuple[str | int, ...], str, bool]


@cache
def schema() -> Mapping[str, Any]:
    """The manifest schema, as shipped."""
    text = resources.files("kbatch").joinpath("schemas/manifest.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def schema_text() -> str:
    """The schema file, byte for byte (what ``kbatch schema`` prints)."""
    return resources.files("kbatch").joinpath("schemas/manifest.schema.json").read_text("utf-8")


@cache
def written_validator() -> Draft202012Validator:
    """Validates a manifest as written (placeholders allowed wherever a value goes)."""
    return Draft202012Validator(schema())


@cache
def expanded_validator() -> Draft202012Validator:
    """Validates values after expansion: ``$defs/template`` is ``false``."""
    expanded = copy.deepcopy(dict(schema()))
    expanded["$defs"]["template"] = False
    expanded["$id"] = expanded["$id"] + ":expanded"
    return Draft202012Validator(expanded)


def _local(ref: str) -> Mapping[str, Any]:
    node: Any = schema()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


def properties_of(node: Mapping[str, Any]) -> set[str]:
    """Every property name a schema node (with its allOf and local $refs) declares."""
    names = set(node.get("properties", {}))
    if "$ref" in node:
        names |= properties_of(_local(node["$ref"]))
    for sub in node.get("allOf", ()):
        names |= properties_of(sub)
    return names


@cache
def kind_fields(kind: str) -> frozenset[str]:
    """The request fields of a kind (Kling's names)."""
    return frozenset(properties_of(_local(f"#/$defs/{kind}_fields")))


def field_schema(kind: str, field: str) -> Mapping[str, Any]:
    node: Mapping[str, Any] = _local(f"#/$defs/{kind}_fields")["properties"][field]
    return node


@cache
def numeric_fields(kind: str) -> frozenset[str]:
    """Fields whose value is a number, so that CSV text can be read as one."""
    out = set()
    for name in kind_fields(kind):
        node = field_schema(kind, name)
        if "$ref" in node:
            node = _local(node["$ref"])
        branches = node.get("anyOf", [node])
        if any(b.get("type") in ("number", "integer") for b in branches):
            out.add(name)
    return frozenset(out)


def coerce(text: str) -> Any:
    """CSV text for a numeric field: an int or float when it reads as one, else the text."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        return float(stripped)
    return text


def problems(validator: Any, instance: Any) -> list[Problem]:
    """Every schema error in ``instance``, as located, readable problems."""
    out: list[Problem] = []
    for error in validator.iter_errors(instance):
        out.extend(_describe(error, tuple(error.absolute_path)))
    return out


class FieldChecker:
    """Validates one field value after expansion, remembering answers for repeated values."""

    def __init__(self) -> None:
        self._validators: dict[tuple[str, str], Any] = {}
        self._memo: dict[tuple[str, str, str, Any], list[Problem]] = {}

    def check(self, kind: str, field: str, value: Any) -> list[Problem]:
        bounds = _string_bounds(kind, field)
        if bounds is not None and isinstance(value, str):
            return _check_length(value, *bounds)
        hashable = isinstance(value, str | int | float | bool) and not (
            isinstance(value, str) and len(value) > 200
        )
        key = (kind, field, type(value).__name__, value) if hashable else None
        if key is not None and key in self._memo:
            return self._memo[key]
        validator = self._validators.get((kind, field))
        if validator is None:
            validator = expanded_validator().evolve(schema=field_schema(kind, field))
            self._validators[(kind, field)] = validator
        found = problems(validator, value)
        if key is not None:
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = found
        return found


@cache
def _string_bounds(kind: str, field: str) -> tuple[int, int | None] | None:
    """(minLength, maxLength) when a field is a plain string, which needs no validator at all."""
    node = field_schema(kind, field)
    if "$ref" in node and len(node) == 1:
        node = _local(node["$ref"])
    if node.get("type") != "string" or set(node) - {
        "type",
        "minLength",
        "maxLength",
        "description",
    }:
        return None
    return int(node.get("minLength", 0)), node.get("maxLength")


def _check_length(value: str, low: int, high: int | None) -> list[Problem]:
    """What the schema's minLength and maxLength would say, without a validator."""
    if len(value) < low:
        return [((), _TOO_SHORT, False)]
    if high is not None and len(value) > high:
        return [((), _too_long(value, high), False)]
    return []


_TOO_SHORT = "must not be empty"


def _too_long(value: str, high: int) -> str:
    return f"is {len(value)} characters long; at most {high} allowed"


def _branches(error: ValidationError) -> dict[int, list[ValidationError]]:
    groups: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0]
        assert isinstance(index, int)
        groups.setdefault(index, []).append(sub)
    return groups


def _type_mismatch(errors: list[ValidationError]) -> bool:
    """True when a branch failed because the value is of another type altogether."""
    for err in errors:
        if err.relative_path:
            continue  # an error inside the value: the value's type did fit
        validator: Any = err.validator
        allowed: Any = err.validator_value
        if validator in ("type", False):
            return True
        if validator == "enum" and not any(_same_type(v, err.instance) for v in allowed):
            return True
    return False


def _refused_outright(error: ValidationError) -> bool:
    """A ``false`` schema (the template branch once expanded) refuses every value."""
    validator: Any = error.validator
    return validator is False


def _same_type(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return type(a) is type(b) or (isinstance(a, numbers) and isinstance(b, numbers))


def _describe_any_of(error: ValidationError, path: tuple[str | int, ...]) -> list[Problem]:
    options: Any = error.validator_value
    groups = {
        i: errs
        for i, errs in _branches(error).items()
        if options[i] != TEMPLATE_REF and errs and not _refused_outright(errs[0])
    }
    if not groups:
        return [(path, f"{show(error.instance)} is not allowed here", False)]
    enums = [
        errs
        for errs in groups.values()
        if len(errs) == 1 and errs[0].validator == "enum" and not errs[0].relative_path
    ]
    if len(enums) == len(groups) and len(groups) > 1:
        allowed: dict[str, None] = {}
        for errs in enums:
            values: Any = errs[0].validator_value
            for value in values:
                allowed.setdefault(json.dumps(str(value)))
        return [(path, f"{show(error.instance)} is not one of {', '.join(allowed)}", False)]
    fitting = [errs for errs in groups.values() if not _type_mismatch(errs)]
    if len(fitting) == 1:
        out: list[Problem] = []
        for sub in fitting[0]:
            out.extend(_describe(sub, path + tuple(sub.relative_path)))
        return out
    expected = []
    for index in groups:
        expected.append(_expectation(options[index]))
    expected_text = " or ".join(dict.fromkeys(e for e in expected if e))
    message = f"{show(error.instance)} is not {expected_text or 'valid here'}"
    return [(path, message, False)]


def _description(error: ValidationError) -> str | None:
    """The nearest description: the failing node's, or that of the definition around it."""
    node: Any = error
    while node is not None:
        if isinstance(node.schema, Mapping) and node.schema.get("description"):
            return str(node.schema["description"])
        node = node.parent
    return None


def _expectation(node: Any) -> str:
    if not isinstance(node, Mapping):
        return ""
    if "$ref" in node:
        return _expectation(_local(node["$ref"]))
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v) for v in node["enum"])
    return _TYPE_NAMES.get(node.get("type", ""), "")


def _describe(error: ValidationError, path: tuple[str | int, ...]) -> list[Problem]:
    kind: Any = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    node: Any = error.schema
    if kind == "anyOf":
        return _describe_any_of(error, path)
    if kind in ("additionalProperties", "unevaluatedProperties"):
        known = properties_of(node)
        kind_named = instance.get("kind") if isinstance(instance, Mapping) else None
        video = isinstance(kind_named, str) and kind_named in _VIDEO_KINDS
        return [
            (
                (*path, name),
                _VIDEO_RESOLUTION if video and name == "resolution" else _unknown(name, known),
                True,
            )
            for name in instance
            if name not in known
        ]
    if kind == "required":
        missing = [name for name in value if name not in instance]
        return [(path, f"missing required field {name!r}", False) for name in missing]
    if kind == "enum":
        return [(path, f"{show(instance)} is not one of {_choices(value)}", False)]
    if kind == "const":
        return [(path, f"{show(instance)} must be {show(value)}", False)]
    if kind == "type":
        return [(path, f"{show(instance)} is not {_TYPE_NAMES.get(value, value)}", False)]
    if kind == "minimum":
        return [(path, f"{show(instance)} is below the minimum {show(value)}", False)]
    if kind == "maximum":
        return [(path, f"{show(instance)} is above the maximum {show(value)}", False)]
    if kind == "exclusiveMinimum":
        return [(path, f"{show(instance)} must be greater than {show(value)}", False)]
    if kind in ("minItems", "maxItems"):
        bound = "at least" if kind == "minItems" else "at most"
        return [(path, f"has {len(instance)} items; {bound} {value} allowed", False)]
    if kind == "maxLength":
        return [(path, _too_long(instance, value), False)]
    if kind in ("minLength", "minProperties"):
        return [(path, _TOO_SHORT, False)]
    if kind == "pattern":
        hint = _description(error) or f"it must match {value}"
        return [(path, f"{show(instance)} is not valid: {hint}", False)]
    if kind == "propertyNames":
        return [(path, f"{show(instance)} is not a valid name: use letters, digits and _", True)]
    message = error.message if len(error.message) < 200 else error.message[:199] + "…"
    return [(path, message, False)]


def _choices(values: Iterable[Any]) -> str:
    return ", ".join(json.dumps(v) for v in values)


#: Kinds that make videos: their resolution is a ``mode`` (on both Kling APIs, whose new API
#: calls it ``resolution``: a user who read its pages writes that).
_VIDEO_KINDS = frozenset(kind.value for kind in JobKind if PACK[kind] is PackType.VIDEO)
_VIDEO_RESOLUTION = (
    "unknown field 'resolution': on video jobs the resolution is `mode` (std 720p, pro 1080p, 4k)"
)


def _unknown(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    message = f"unknown field {name!r}"
    if close:
        return f"{message} (did you mean {close[0]!r}?)"
    owners = [kind for kind in KINDS if name in kind_fields(kind)]
    if owners and "kind" in known:
        return f"{message}: it is a field of {' and '.join(owners)}"
    return message
