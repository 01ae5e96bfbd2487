"""``#{var}`` message templates, as KakaoTalk AlimTalk and most Korean SMS gateways write them.

Rules:

- A placeholder is ``#{name}``, where ``name`` is 1-64 characters other than ``{``, ``}``, ``#``
  and whitespace; Korean names such as ``#{고객명}`` are fine.
- ``##{`` is an escape: it renders as a literal ``#{`` and starts no placeholder
  (``"##{name}"`` renders as ``"#{name}"``).
- Any other text, including a lone ``#``, ``{`` or ``}``, is copied as it is.
- Rendering needs a value for every placeholder; the missing ones are all named in one
  :class:`MissingTemplateVariable`. Extra values are ignored, so one variables mapping can serve
  several templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from kmsg.errors import ValidationError

__all__ = ["MissingTemplateVariable", "Template", "render_template"]

# Group 1: an escaped "##{"; group 2: a placeholder's name.
_TOKEN: Final = re.compile(r"(##\{)|#\{([^{}#\s]{1,64})\}")


class MissingTemplateVariable(ValidationError):
    """A template was rendered without values for some placeholders, named in ``names``."""

    def __init__(self, names: tuple[str, ...]) -> None:
        listed = ", ".join(f"#{{{name}}}" for name in names)
        super().__init__(f"template variables missing: {listed}")
        self.names = names


class Template:
    """A parsed ``#{var}`` template; render it with :meth:`render`."""

    __slots__ = ("text", "variables")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValidationError(f"template text must be a string, not {type(text).__name__}")
        self.text = text
        names = (match.group(2) for match in _TOKEN.finditer(text) if match.group(2))
        self.variables: tuple[str, ...] = tuple(dict.fromkeys(names))
        """Placeholder names in order of first appearance, each once."""

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def render(self, values: Mapping[str, str]) -> str:
        """The text with each placeholder replaced; ``MissingTemplateVariable`` if any lacks one."""
        missing = tuple(name for name in self.variables if name not in values)
        if missing:
            raise MissingTemplateVariable(missing)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(2)
            return "#{" if name is None else str(values[name])

        return _TOKEN.sub(substitute, self.text)


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Render the template ``text`` with ``values`` (see :class:`Template`)."""
    return Template(text).render(values)
