"""``kmsg.messaging.__all__`` is sorted, complete and importable."""

from __future__ import annotations

import kmsg.messaging


def test_all_is_sorted_and_importable() -> None:
    names = kmsg.messaging.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(kmsg.messaging, name) is not None


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(kmsg.messaging).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("kmsg.")
    }
    assert public <= set(kmsg.messaging.__all__)
