"""``kmsg send --type alimtalk``: check the template and its variables before enqueueing.

An AlimTalk message naming a template the provider does not have, one not approved, or leaving a
``#{var}`` without a value would only fail in the worker, as a dead letter. When the configured
provider can look templates up (it has a ``templates`` store with an async ``get(code)``, as the
mock provider does), ``send`` checks first: an unknown template exits 3, one not approved or a
missing variable exits 2, and variables the template does not use are warned about. With no
provider configured, or one without template lookup, nothing is checked (the worker still is the
final judge); ``--no-template-check`` skips the check.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from kmsg.cli.app import CliState
from kmsg.cli.output import err_console, safe
from kmsg.cli.provider import PROVIDER_ENV, build_provider, mock_enabled
from kmsg.errors import ValidationError
from kmsg.messaging.models import AlimTalk
from kmsg.messaging.provider import close_provider
from kmsg.messaging.template_store import ProviderTemplate, TemplateStatus
from kmsg.messaging.templates import Template

__all__ = ["TemplateLookup", "check_template"]


@runtime_checkable
class TemplateLookup(Protocol):
    """What a provider's ``templates`` attribute offers when it can look templates up."""

    async def get(self, code: str) -> ProviderTemplate:
        """The template stored as ``code``; ``ProviderError(TEMPLATE_NOT_FOUND)`` if none is."""
        ...


async def check_template(state: CliState, message: AlimTalk) -> bool:
    """Check ``message``'s template and variables with the configured provider (module
    docstring); return whether a check was made. Raises ``ProviderError`` (TEMPLATE_NOT_FOUND)
    or ``ValidationError``."""
    if not (mock_enabled() or os.environ.get(PROVIDER_ENV)):
        return False
    provider = await build_provider(state)
    try:
        lookup = getattr(provider, "templates", None)
        if not isinstance(lookup, TemplateLookup):
            return False
        template = await lookup.get(message.template_code)
    finally:
        await close_provider(provider)
    if template.status is not TemplateStatus.APPROVED:
        raise ValidationError(
            f"template {template.code!r} is {template.status.value}, not approved: the provider"
            " would refuse the message"
        )
    Template(template.content).render(message.variables)  # MissingTemplateVariable names them
    unused = sorted(set(message.variables) - set(template.variables))
    if unused:
        err_console.print(
            safe(f"warning: template {template.code!r} has no variables {unused}; they are ignored")
        )
    return True
