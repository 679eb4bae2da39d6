"""A JSON Schema node in words: its type and its limits, for the field tables.

>>> node = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 9}, {"$ref": TEMPLATE}]}
>>> describe(node, {})
('integer', '1 to 9')
>>> describe({"enum": ["std", "pro"]}, {})
('one of `std`, `pro`', '')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Node = Mapping[str, Any]
#: ``$defs`` that stand for a kind of value rather than a shape, named in words.
NAMED = {
    "image": "image",
    "callback_url": "http(s) URL",
    "watermark_info": "`{enabled: bool}`",
    "prompt": "string",
    "video_prompt": "string",
    "n": "integer",
    "ratio": "number",
}
TEMPLATE = "#/$defs/template"


def resolve(node: Node, defs: Mapping[str, Node]) -> Node:
    """A ``$ref`` to ``#/$defs/x`` followed (once per level)."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return resolve(defs[ref.removeprefix("#/$defs/")], defs)
    return node


def alternatives(node: Node) -> list[Node]:
    """The forms a value may take, without the ``${placeholder}`` any field may hold."""
    forms = node.get("anyOf") or node.get("oneOf") or [node]
    return [form for form in forms if form.get("$ref") != TEMPLATE]


def _type(node: Node, defs: Mapping[str, Node]) -> str:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.removeprefix("#/$defs/") in NAMED:
        return NAMED[ref.removeprefix("#/$defs/")]
    node = resolve(node, defs)
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type")
    if kind == "array":
        items = node.get("items", {})
        inner = " or ".join(_type(form, defs) for form in alternatives(items)) if items else "any"
        return f"list of {inner}"
    if kind == "object":
        keys = list(node.get("properties", {}))
        return "mapping" + (" `{" + ", ".join(keys) + "}`" if keys else "")
    return str(kind or "any")


def _limits(node: Node, defs: Mapping[str, Node]) -> str:
    node = resolve(node, defs)
    parts = []
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        parts.append(f"{low} to {high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    if "exclusiveMinimum" in node:
        parts.append(f"above {node['exclusiveMinimum']}")
    if "maxLength" in node:
        parts.append(f"up to {node['maxLength']} characters")
    few, many = node.get("minItems"), node.get("maxItems")
    if many is not None:
        parts.append(f"{few or 0} to {many} items" if few != many else f"exactly {many} items")
    elif few is not None and few > 1:
        parts.append(f"at least {few} items")
    if node.get("type") == "array" and "items" in node:
        inner = [_limits(form, defs) for form in alternatives(node["items"])]
        parts.extend(f"each {limit}" for limit in inner if limit)
    return "; ".join(parts)


def describe(node: Node, defs: Mapping[str, Node]) -> tuple[str, str]:
    """``(type, limits)`` of a field's schema, in words; a placeholder is always allowed too."""
    forms = alternatives(node)
    types = " or ".join(dict.fromkeys(_type(form, defs) for form in forms))
    limits = "; ".join(limit for limit in (_limits(form, defs) for form in forms) if limit)
    return types, limits


def description(node: Node, defs: Mapping[str, Node]) -> str:
    """The schema's own words about a field (its description, or that of what it refers to), for
    a Markdown table: ``<`` and ``>`` as entities."""
    found = node.get("description") or resolve(node, defs).get("description")
    if not found:
        found = next((f["description"] for f in alternatives(node) if "description" in f), "")
    return str(found).replace("<", "&lt;").replace(">", "&gt;")  # <<<image_1>>> is text
