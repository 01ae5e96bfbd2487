"""An in-memory store of provider templates (AlimTalk), as a provider's template API would keep.

Templates are kept in creation order; :meth:`InMemoryTemplateStore.list` pages through them
(``page`` is 1-based) and can filter by status. A code that is not stored raises
``ProviderError(TEMPLATE_NOT_FOUND)``, as a real provider answers.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import Final

import msgspec

from kmsg.errors import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.templates import Template

__all__ = ["InMemoryTemplateStore", "ProviderTemplate", "TemplatePage", "TemplateStatus"]

MAX_PAGE_SIZE: Final = 100


class TemplateStatus(enum.StrEnum):
    """Where a template is in the provider's review: only ``approved`` ones can be sent."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ProviderTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """A stored template: its ``code`` (the key messages name), a label and ``#{var}`` content."""

    code: str
    name: str
    content: str
    status: TemplateStatus
    created_at: float
    updated_at: float

    @property
    def variables(self) -> tuple[str, ...]:
        """The content's placeholder names, in order."""
        return Template(self.content).variables


class TemplatePage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of templates and the number that match the filter in all."""

    templates: tuple[ProviderTemplate, ...]
    page: int
    page_size: int
    total: int


def _not_found(code: str) -> ProviderError:
    return ProviderError(ProviderErrorCode.TEMPLATE_NOT_FOUND, f"no template with code {code!r}")


class InMemoryTemplateStore:
    """Create, read, list, update and delete templates held in a dict (for tests and demos)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._templates: dict[str, ProviderTemplate] = {}

    async def create(
        self,
        code: str,
        *,
        name: str,
        content: str,
        status: TemplateStatus = TemplateStatus.APPROVED,
    ) -> ProviderTemplate:
        """Store a new template; ``ProviderError(INVALID_REQUEST)`` if ``code`` is taken.

        New templates are ``approved`` unless told otherwise, so tests can send with them at once.
        """
        if not isinstance(code, str) or not 1 <= len(code) <= 64:
            raise ValidationError("a template code must be a string of 1-64 characters")
        if code in self._templates:
            raise ProviderError(
                ProviderErrorCode.INVALID_REQUEST, f"template {code!r} already exists"
            )
        now = self._clock()
        template = ProviderTemplate(
            code=code, name=name, content=content, status=status, created_at=now, updated_at=now
        )
        self._templates[code] = template
        return template

    async def get(self, code: str) -> ProviderTemplate:
        """The template stored as ``code``; ``ProviderError(TEMPLATE_NOT_FOUND)`` if none is."""
        try:
            return self._templates[code]
        except KeyError:
            raise _not_found(code) from None

    async def list(
        self, *, page: int = 1, page_size: int = 20, status: TemplateStatus | None = None
    ) -> TemplatePage:
        """Page ``page`` (1-based) of the templates, oldest first, optionally of one status."""
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValidationError(f"page must be >= 1 and page_size 1-{MAX_PAGE_SIZE}")
        matching = [t for t in self._templates.values() if status is None or t.status is status]
        start = (page - 1) * page_size
        return TemplatePage(
            templates=tuple(matching[start : start + page_size]),
            page=page,
            page_size=page_size,
            total=len(matching),
        )

    async def update(
        self,
        code: str,
        *,
        name: str | None = None,
        content: str | None = None,
        status: TemplateStatus | None = None,
    ) -> ProviderTemplate:
        """Change the given fields of a stored template; ``TEMPLATE_NOT_FOUND`` if missing."""
        current = await self.get(code)
        updated = msgspec.structs.replace(
            current,
            name=current.name if name is None else name,
            content=current.content if content is None else content,
            status=current.status if status is None else status,
            updated_at=self._clock(),
        )
        self._templates[code] = updated
        return updated

    async def delete(self, code: str) -> None:
        """Remove a stored template; ``TEMPLATE_NOT_FOUND`` if missing."""
        if self._templates.pop(code, None) is None:
            raise _not_found(code)
