"""``${name}`` placeholders: typed whole values, text interpolation, ``$$`` escapes."""

from __future__ import annotations

import pytest

from kbatch.manifest.template import Template, TemplateError, compile_value, names_in, render


def fill(value: object, **variables: object) -> object:
    return render(compile_value(value), variables)


def test_a_whole_value_placeholder_keeps_the_variable_type() -> None:
    assert fill("${n}", n=4) == 4
    assert fill("${items}", items=["a", "b"]) == ["a", "b"]


def test_placeholders_inside_text_are_written_as_text() -> None:
    assert fill("shot-${id}-${n}", id="a", n=2) == "shot-a-2"
    assert fill("${flag} and ${ratio}", flag=True, ratio=0.5) == "true and 0.5"


def test_dollar_escapes() -> None:
    assert fill("costs $$5, $3 and $${x}") == "costs $5, $3 and ${x}"
    assert fill("$${x} but ${y}", y="Y") == "${x} but Y"
    assert fill("trailing $") == "trailing $"


def test_containers_are_rendered_recursively_and_constants_cost_nothing() -> None:
    compiled = compile_value({"a": ["${x}", "const"], "b": 1})
    assert names_in(compiled) == {"x"}
    assert render(compiled, {"x": "X"}) == {"a": ["X", "const"], "b": 1}
    assert names_in(compile_value({"a": ["plain"]})) == frozenset()
    assert compile_value("no placeholders") == "no placeholders"


def test_names_are_collected_once_per_template() -> None:
    compiled = compile_value("${a}/${b}/${a}")
    assert isinstance(compiled, Template)
    assert compiled.names == {"a", "b"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${open", "unclosed placeholder"),
        ("${}", "bad placeholder '${}'"),
        ("${a${b}}", "bad placeholder"),
    ],
)
def test_malformed_placeholders_are_refused(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("$", r"\$").replace("{", r"\{")):
        compile_value(text)


def test_a_placeholder_without_a_value_says_which() -> None:
    with pytest.raises(TemplateError, match=r"\$\{x\} has no value$"):
        fill("${x}")
    with pytest.raises(TemplateError, match=r"\$\{x\} has no value \(null\)"):
        fill("a ${x}", x=None)
    with pytest.raises(TemplateError, match="cannot be written inside text"):
        fill("a ${x}", x=[1, 2])
