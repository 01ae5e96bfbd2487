"""The payload codec: msgspec Structs to JSON bytes and back, validated, size-limited, no pickle.

A payload is an instance of a msgspec Struct. Its **task name** is the class attribute
``__kmsg_task__`` when set (``__kmsg_task__: ClassVar[str] = "sms.send"``), else the class name.
Encoding is followed by a strict decode into the same type, so every constraint the type declares
(``msgspec.Meta`` bounds, patterns, nested types) is checked *before* anything is written.

A :class:`TaskRegistry` maps task names back to types, for raw input (JSON from the command line or
a dashboard) and for decoding stored jobs. Encoders and decoders are built once per type and reused.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

from kmsg.errors import PayloadDecodeError, ValidationError
from kmsg.validation import check_name

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "PayloadCodec", "TaskRegistry", "task_name_of"]

S = TypeVar("S", bound=msgspec.Struct)

DEFAULT_MAX_PAYLOAD_BYTES: Final = 256 * 1024


def task_name_of(payload_type: type[msgspec.Struct]) -> str:
    """The task name of a payload type (``__kmsg_task__`` or the class name), validated."""
    name = getattr(payload_type, "__kmsg_task__", payload_type.__name__)
    return check_name("task", name)


class TaskRegistry:
    """Task name -> payload type, for decoding stored jobs and validating raw input."""

    def __init__(self, *payload_types: type[msgspec.Struct]) -> None:
        self._types: dict[str, type[msgspec.Struct]] = {}
        for payload_type in payload_types:
            self.register(payload_type)

    def register(self, payload_type: type[S]) -> type[S]:
        """Register ``payload_type`` under its task name; usable as a class decorator.

        Raises ``ValidationError`` if another type already holds that name.
        """
        if not (isinstance(payload_type, type) and issubclass(payload_type, msgspec.Struct)):
            raise ValidationError(f"{payload_type!r} is not a msgspec.Struct type")
        name = task_name_of(payload_type)
        existing = self._types.get(name)
        if existing is not None and existing is not payload_type:
            raise ValidationError(f"task name {name!r} is already registered to {existing!r}")
        self._types[name] = payload_type
        return payload_type

    def get(self, task: str) -> type[msgspec.Struct]:
        """The type registered under ``task``; ``ValidationError`` if none is."""
        try:
            return self._types[task]
        except KeyError:
            raise ValidationError(
                f"unknown task {task!r}; registered: {sorted(self._types)}"
            ) from None

    def __contains__(self, task: object) -> bool:
        return task in self._types

    def names(self) -> list[str]:
        """Registered task names, sorted."""
        return sorted(self._types)


class PayloadCodec:
    """Encodes and validates payloads; decodes stored bytes back to their Struct type.

    ``max_bytes`` bounds the encoded size of one payload (default 256 KiB).
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        if max_bytes < 1:
            raise ValidationError("max_bytes must be at least 1")
        self.max_bytes = max_bytes
        self._encoder = msgspec.json.Encoder()
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    def _decoder(self, payload_type: type[S]) -> msgspec.json.Decoder[S]:
        decoder = self._decoders.get(payload_type)
        if decoder is None:
            decoder = self._decoders[payload_type] = msgspec.json.Decoder(payload_type)
        return decoder

    def encode(self, payload: msgspec.Struct) -> tuple[str, bytes]:
        """Validate ``payload`` and return ``(task name, JSON bytes)``.

        Raises ``ValidationError`` if it is not a Struct, does not encode, breaks a constraint of
        its type, or is larger than ``max_bytes``.
        """
        if not isinstance(payload, msgspec.Struct):
            raise ValidationError(
                f"payload must be a msgspec.Struct instance, not {type(payload).__name__}"
            )
        payload_type = type(payload)
        task = task_name_of(payload_type)
        try:
            data = self._encoder.encode(payload)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise ValidationError(f"payload of task {task!r} cannot be encoded: {exc}") from None
        self._check_size(task, data)
        try:
            self._decoder(payload_type).decode(data)
        except (msgspec.ValidationError, RecursionError) as exc:
            raise ValidationError(f"invalid payload for task {task!r}: {exc}") from None
        return task, data

    def encode_raw(self, payload_type: type[msgspec.Struct], data: bytes | str) -> bytes:
        """Validate raw JSON for ``payload_type``; unknown top-level fields are refused."""
        task = task_name_of(payload_type)
        try:
            raw = data.encode() if isinstance(data, str) else bytes(data)
        except (UnicodeEncodeError, TypeError) as exc:
            raise ValidationError(f"invalid payload for task {task!r}: {exc}") from None
        self._check_size(task, raw)
        try:
            fields = msgspec.json.decode(raw)
            decoded = self._decoder(payload_type).decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError) as exc:
            raise ValidationError(f"invalid payload for task {task!r}: {exc}") from None
        if isinstance(fields, dict):
            known = {field.encode_name for field in msgspec.structs.fields(payload_type)}
            unknown = sorted(set(fields) - known)
            if unknown:
                raise ValidationError(
                    f"invalid payload for task {task!r}: unknown fields {unknown}"
                )
        return self.encode(decoded)[1]

    def decode(self, payload_type: type[S], data: bytes) -> S:
        """Decode stored bytes to ``payload_type``; ``PayloadDecodeError`` if they do not fit."""
        try:
            return self._decoder(payload_type).decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError) as exc:
            raise PayloadDecodeError(task_name_of(payload_type), str(exc)) from None

    def _check_size(self, task: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            raise ValidationError(
                f"payload of task {task!r} is {len(data)} bytes; the limit is {self.max_bytes}"
            )
