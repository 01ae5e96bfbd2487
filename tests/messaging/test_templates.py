"""``#{var}`` templates: substitution, missing variables, escaping."""

from __future__ import annotations

import pytest

from kmsg import ValidationError
from kmsg.messaging import MissingTemplateVariable, Template, render_template


def test_placeholders_are_replaced() -> None:
    text = "#{name}님, 주문 #{order}이(가) 발송되었습니다."
    rendered = render_template(text, {"name": "홍길동", "order": "A-17"})
    assert rendered == "홍길동님, 주문 A-17이(가) 발송되었습니다."


def test_variables_are_listed_once_in_order() -> None:
    template = Template("#{b} #{a} #{b} #{고객명}")
    assert template.variables == ("b", "a", "고객명")
    assert template.render({"a": "1", "b": "2", "고객명": "김"}) == "2 1 2 김"


def test_every_missing_variable_is_named() -> None:
    with pytest.raises(MissingTemplateVariable, match=r"#\{code\}, #\{name\}") as caught:
        render_template("#{code} for #{name} (#{ok})", {"ok": "y"})
    assert caught.value.names == ("code", "name")
    assert isinstance(caught.value, ValidationError)


def test_extra_values_are_ignored() -> None:
    assert render_template("hi #{a}", {"a": "x", "unused": "y"}) == "hi x"


def test_double_hash_escapes_a_placeholder() -> None:
    assert render_template("##{name} is literal, #{name} is not", {"name": "N"}) == (
        "#{name} is literal, N is not"
    )
    assert Template("##{name}").variables == ()


@pytest.mark.parametrize(
    "text",
    ["# alone", "{braces}", "#{}", "#{with space}", "#{a{b}", "price: 10#", "#{" + "x" * 65 + "}"],
)
def test_text_that_is_not_a_placeholder_is_copied(text: str) -> None:
    assert Template(text).variables == ()
    assert render_template(text, {}) == text


def test_values_are_not_rendered_again() -> None:
    assert render_template("#{a}", {"a": "#{b}", "b": "no"}) == "#{b}"


def test_template_text_must_be_a_string() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        Template(b"#{a}")  # type: ignore[arg-type]
