"""Messages and send results, as frozen msgspec Structs.

``Message`` is a tagged union on the field ``"type"``: ``SMS``, ``LMS``, ``MMS``, ``ALIMTALK`` and
``FRIENDTALK``. Every message checks itself when built *and* when decoded (``__post_init__``), so
an invalid one can never be enqueued: phone numbers are normalised (see :mod:`kmsg.messaging.phone`;
the recipient must be a mobile number) and lengths are bounded.

Length rules. Carrier SMS/LMS/MMS are sent in the Korean KS X 1001 character set, so their text is
measured in bytes when encoded as CP949 (a Hangul syllable is 2 bytes, ASCII 1), and a character
CP949 cannot encode (an emoji, say) is refused. An SMS may hold as much as an LMS: one over 90
bytes is a *long SMS*, which kmsg sends as LMS (or refuses, with promotion off; see
:mod:`kmsg.messaging.sizing`), never as SMS:

========== ========================== ==========================================================
type       text                       other
========== ========================== ==========================================================
SMS        1-2000 bytes               over 90 bytes: sent as LMS (promotion)
LMS        1-2000 bytes               subject up to 40 bytes
MMS        1-2000 bytes               subject up to 40 bytes; 1-3 images (provider file ids)
ALIMTALK   from the template          template code 1-64 characters; ``#{var}`` values
FRIENDTALK 1-1000 characters          (400 with an image); up to 5 buttons
========== ========================== ==========================================================
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sized
from typing import Final

import msgspec

from kmsg.errors import ValidationError
from kmsg.messaging.phone import normalize_phone

__all__ = [
    "AlimTalk",
    "Button",
    "FriendTalk",
    "Lms",
    "Message",
    "MessagePriority",
    "Mms",
    "SendResult",
    "Sms",
]

SMS_MAX_BYTES: Final = 90
LMS_MAX_BYTES: Final = 2000
SUBJECT_MAX_BYTES: Final = 40
FRIENDTALK_MAX_CHARS: Final = 1000
FRIENDTALK_IMAGE_MAX_CHARS: Final = 400
_URL: Final = re.compile(r"https?://\S+")


class MessagePriority(enum.StrEnum):
    """How urgent a queued message is; :attr:`queue_priority` is the job priority it maps to."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def queue_priority(self) -> int:
        """The job priority (higher runs first): high 10, normal 0, low -10."""
        return {"high": 10, "normal": 0, "low": -10}[self.value]


def _check_cp949(field: str, text: str, max_bytes: int, *, required: bool = True) -> None:
    try:
        size = len(text.encode("cp949"))
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise ValidationError(f"{field} has a character CP949 cannot encode: {bad!r}") from None
    if required and size == 0:
        raise ValidationError(f"{field} must not be empty")
    if size > max_bytes:
        raise ValidationError(f"{field} is {size} bytes in CP949; the limit is {max_bytes}")


def _check_count(field: str, value: Sized, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise ValidationError(
            f"{field} must have {low}-{high} items or characters, not {len(value)}"
        )


def _check_url(field: str, url: str) -> None:
    if _URL.fullmatch(url) is None or len(url) > 1000:
        raise ValidationError(f"{field} must be an http(s) URL of at most 1000 characters")


class _Message(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="type",
):
    """Fields every message has: the recipient ``to`` and an optional caller id ``sender``."""

    to: str
    sender: str | None = None

    def __post_init__(self) -> None:
        # Frozen Structs cannot assign; force_setattr stores the normalised number in place.
        msgspec.structs.force_setattr(self, "to", normalize_phone(self.to, mobile_only=True))
        if self.sender is not None:
            msgspec.structs.force_setattr(self, "sender", normalize_phone(self.sender))


class Sms(_Message, tag="SMS", frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A short text message: ``text`` of 1-90 CP949 bytes goes as one SMS.

    A text of 91-2000 bytes is accepted too: it is sent as an LMS without a subject
    (:func:`kmsg.messaging.sizing.promote`), or refused at send time when promotion is off.
    """

    text: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_cp949("SMS text", self.text, LMS_MAX_BYTES)


class Lms(_Message, tag="LMS", frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A long text message: ``text`` of 1-2000 CP949 bytes and an optional ``subject``."""

    text: str
    subject: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_cp949("LMS text", self.text, LMS_MAX_BYTES)
        _check_cp949("LMS subject", self.subject or "", SUBJECT_MAX_BYTES, required=False)


class Mms(_Message, tag="MMS", frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A multimedia message: text as for LMS plus 1-3 ``images`` (file ids the provider issued)."""

    text: str
    images: tuple[str, ...]
    subject: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_cp949("MMS text", self.text, LMS_MAX_BYTES)
        _check_cp949("MMS subject", self.subject or "", SUBJECT_MAX_BYTES, required=False)
        _check_count("MMS images", self.images, 1, 3)
        if not all(self.images):
            raise ValidationError("MMS image ids must not be empty")


class AlimTalk(_Message, tag="ALIMTALK", frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A KakaoTalk notification: an approved template's code and its ``#{var}`` values.

    ``fallback_text`` (1-2000 CP949 bytes), when given, is sent by SMS (LMS when over 90 bytes)
    if KakaoTalk cannot deliver (see :mod:`kmsg.messaging.processor`).
    """

    template_code: str
    variables: dict[str, str] = {}
    fallback_text: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count("AlimTalk template_code", self.template_code, 1, 64)
        if self.fallback_text is not None:
            _check_cp949("AlimTalk fallback_text", self.fallback_text, LMS_MAX_BYTES)


class Button(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A FriendTalk link button: a label of 1-14 characters and an http(s) URL."""

    name: str
    url: str

    def __post_init__(self) -> None:
        _check_count("button name", self.name, 1, 14)
        _check_url("button url", self.url)


class FriendTalk(_Message, tag="FRIENDTALK", frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A KakaoTalk message to a channel friend: text, an optional image URL and up to 5 buttons."""

    text: str
    image_url: str | None = None
    buttons: tuple[Button, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        limit = FRIENDTALK_MAX_CHARS if self.image_url is None else FRIENDTALK_IMAGE_MAX_CHARS
        _check_count("FriendTalk text", self.text, 1, limit)
        if self.image_url is not None:
            _check_url("FriendTalk image_url", self.image_url)
        _check_count("FriendTalk buttons", self.buttons, 0, 5)


Message = Sms | Lms | Mms | AlimTalk | FriendTalk
"""Any message; decode with ``msgspec.json.decode(data, type=Message)``."""


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """A provider accepted a message: its ``message_id`` there, the recipient and when (epoch s).

    ``message_type`` is the type it was sent as (``"SMS"``, ``"LMS"``, ...; a long SMS shows
    ``"LMS"``): set by the provider when it knows, else by the message processor. None in
    results made before the field existed, which still decode.
    """

    message_id: str
    provider: str
    to: str
    accepted_at: float
    message_type: str | None = None
