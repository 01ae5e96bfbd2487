"""The in-memory template store: create, get, list with paging and filter, update, delete."""

from __future__ import annotations

import itertools

import pytest

from kmsg import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import InMemoryTemplateStore, TemplateStatus

pytestmark = pytest.mark.anyio


def store() -> InMemoryTemplateStore:
    ticks = itertools.count(100)
    return InMemoryTemplateStore(clock=lambda: float(next(ticks)))


async def test_create_then_get() -> None:
    templates = store()
    created = await templates.create("T1", name="one", content="hi #{name}")
    assert await templates.get("T1") == created
    assert (created.status, created.created_at, created.variables) == (
        TemplateStatus.APPROVED,
        100.0,
        ("name",),
    )


async def test_duplicate_codes_are_refused() -> None:
    templates = store()
    await templates.create("T1", name="one", content="a")
    with pytest.raises(ProviderError) as caught:
        await templates.create("T1", name="again", content="b")
    assert caught.value.code is ProviderErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("code", ["", "x" * 65])
async def test_bad_codes_are_refused(code: str) -> None:
    with pytest.raises(ValidationError):
        await store().create(code, name="n", content="c")


async def test_list_pages_in_creation_order() -> None:
    templates = store()
    for n in range(5):
        await templates.create(f"T{n}", name=f"t{n}", content="c")
    pages = [await templates.list(page=p, page_size=2) for p in (1, 2, 3, 4)]
    assert [[t.code for t in page.templates] for page in pages] == [
        ["T0", "T1"],
        ["T2", "T3"],
        ["T4"],
        [],
    ]
    assert {page.total for page in pages} == {5}


async def test_list_filters_by_status() -> None:
    templates = store()
    await templates.create("A", name="a", content="c")
    await templates.create("P1", name="p", content="c", status=TemplateStatus.PENDING)
    await templates.create("P2", name="p", content="c", status=TemplateStatus.PENDING)
    page = await templates.list(status=TemplateStatus.PENDING, page_size=1)
    assert ([t.code for t in page.templates], page.total) == (["P1"], 2)
    rejected = await templates.list(status=TemplateStatus.REJECTED)
    assert (rejected.templates, rejected.total) == ((), 0)


@pytest.mark.parametrize(("page", "page_size"), [(0, 10), (1, 0), (1, 101)])
async def test_list_refuses_bad_paging(page: int, page_size: int) -> None:
    with pytest.raises(ValidationError):
        await store().list(page=page, page_size=page_size)


async def test_update_changes_only_given_fields() -> None:
    templates = store()
    await templates.create("T", name="old", content="#{a}", status=TemplateStatus.PENDING)
    updated = await templates.update("T", status=TemplateStatus.APPROVED)
    assert (updated.name, updated.content, updated.status) == ("old", "#{a}", "approved")
    assert updated.updated_at > updated.created_at
    renamed = await templates.update("T", name="new", content="#{b}")
    assert (renamed.name, renamed.variables) == ("new", ("b",))
    assert await templates.get("T") == renamed


async def test_delete_removes() -> None:
    templates = store()
    await templates.create("T", name="n", content="c")
    await templates.delete("T")
    assert (await templates.list()).total == 0


@pytest.mark.parametrize("operation", ["get", "update", "delete"])
async def test_missing_codes_raise_template_not_found(operation: str) -> None:
    with pytest.raises(ProviderError) as caught:
        await getattr(store(), operation)("MISSING")
    assert caught.value.code is ProviderErrorCode.TEMPLATE_NOT_FOUND
    assert not caught.value.retryable
