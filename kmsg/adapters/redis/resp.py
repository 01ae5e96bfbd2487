"""Redis commands in RESP, packed once: pure functions, shared by every client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["pack", "pack_args"]


def pack(command: Sequence[Any]) -> bytes:
    """One command in RESP: an array of bulk strings (see :func:`pack_args`)."""
    return b"*%d\r\n" % len(command) + pack_args(command)


def pack_args(args: Sequence[Any]) -> bytes:
    """Arguments as RESP bulk strings: bytes as they are, str as UTF-8, numbers as their repr."""
    out = bytearray()
    for arg in args:
        kind = type(arg)
        if kind is str:
            data = arg.encode()
        elif kind is bytes:
            data = arg
        elif kind is float or kind is int:
            data = repr(arg).encode()
        else:
            data = _encode_other(arg)
        out += b"$%d\r\n%b\r\n" % (len(data), data)
    return bytes(out)


def _encode_other(arg: object) -> bytes:
    if isinstance(arg, bool) or not isinstance(arg, str | bytes | int | float):
        raise TypeError(f"cannot send a {type(arg).__name__} to Redis")
    if isinstance(arg, str):  # a str subclass such as a StrEnum member: its value
        return str.encode(arg)
    if isinstance(arg, bytes):
        return bytes(arg)
    if isinstance(arg, int):
        return int.__repr__(arg).encode()
    return float.__repr__(arg).encode()
