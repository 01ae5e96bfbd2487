"""Korean phone numbers: validation and normalisation to bare digits (``01012345678``).

The rules, applied in order:

1. Input is a string of at most 32 characters. Spaces, ``-``, ``.``, ``(`` and ``)`` are
   separators and are dropped; any other non-digit (except one leading ``+``) is refused.
2. A country code ``+82`` or ``82`` is replaced by the trunk prefix ``0`` (``+82 10-1234-5678`` ->
   ``01012345678``); a ``0`` kept after it (``+82 (0)10...``) is not doubled, and representative
   numbers keep no prefix (``+82 1588-1234`` -> ``15881234``). Any other ``+`` country code is
   refused: only Korean numbers are accepted. Domestic numbers start with ``0`` or ``1``, so a
   leading ``82`` is never ambiguous.
3. The national number must then be one of these kinds:

   ==============  =====================================  ===================================
   kind            pattern                                example
   ==============  =====================================  ===================================
   mobile          ``010`` + 8 digits, or ``011``,        ``010-1234-5678``, ``011-123-4567``
                   ``016``-``019`` + 7 or 8 digits
   landline        ``02`` + 7 or 8 digits, or an area     ``02-123-4567``, ``031-1234-5678``
                   code (``031``-``033``, ``041``-``044``,
                   ``051``-``055``, ``061``-``064``) + 7
                   or 8 digits
   internet        ``070`` + 8 digits                     ``070-1234-5678``
   representative  ``15``/``16``/``18`` + 6 digits       ``1588-1234``
   ==============  =====================================  ===================================

Only mobile numbers can receive SMS, LMS, MMS and KakaoTalk messages, so message recipients must
be mobile (``mobile_only=True``); a sender (caller id) may be any kind.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from kmsg.errors import ValidationError

__all__ = ["InvalidPhoneNumber", "PhoneKind", "normalize_phone", "phone_kind"]

_MAX_INPUT: Final = 32
_SEPARATORS: Final = re.compile(r"[\s\-.()]")
_AREA_CODES: Final = "031|032|033|041|042|043|044|051|052|053|054|055|061|062|063|064"


class PhoneKind(enum.StrEnum):
    """What kind of Korean number a normalised number is."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    INTERNET = "internet"
    REPRESENTATIVE = "representative"


_REPRESENTATIVE: Final = re.compile(r"1[568]\d{6}")
_PATTERNS: Final[tuple[tuple[PhoneKind, re.Pattern[str]], ...]] = (
    (PhoneKind.MOBILE, re.compile(r"010\d{8}|01[16789]\d{7,8}")),
    (PhoneKind.LANDLINE, re.compile(rf"(?:02|{_AREA_CODES})\d{{7,8}}")),
    (PhoneKind.INTERNET, re.compile(r"070\d{8}")),
    (PhoneKind.REPRESENTATIVE, _REPRESENTATIVE),
)


class InvalidPhoneNumber(ValidationError):
    """A phone number is not a valid Korean number (of the required kind); ``reason`` says why."""

    def __init__(self, number: object, reason: str) -> None:
        shown = repr(number) if len(repr(number)) <= 40 else repr(number)[:37] + "..."
        super().__init__(f"invalid Korean phone number {shown}: {reason}")
        self.number = number
        self.reason = reason


def _national_digits(number: object) -> str:
    if not isinstance(number, str):
        raise InvalidPhoneNumber(number, f"expected a string, not {type(number).__name__}")
    if len(number) > _MAX_INPUT:
        raise InvalidPhoneNumber(number, f"longer than {_MAX_INPUT} characters")
    compact = _SEPARATORS.sub("", number)
    international = compact.startswith("+")
    digits = compact.removeprefix("+")
    if not digits:
        raise InvalidPhoneNumber(number, "no digits")
    if not digits.isascii() or not digits.isdigit():
        raise InvalidPhoneNumber(number, "only digits, spaces, '-', '.', '(', ')' and '+' allowed")
    if international and not digits.startswith("82"):
        raise InvalidPhoneNumber(number, "only the Korean country code +82 is accepted")
    if not digits.startswith("82"):
        return digits
    rest = digits[2:]
    if rest.startswith("0") or _REPRESENTATIVE.fullmatch(rest):
        return rest
    return "0" + rest


def _classify(number: object) -> tuple[str, PhoneKind]:
    digits = _national_digits(number)
    for kind, pattern in _PATTERNS:
        if pattern.fullmatch(digits):
            return digits, kind
    raise InvalidPhoneNumber(
        number,
        "expected a mobile (010-XXXX-XXXX), landline (02-XXX-XXXX, 031-XXX-XXXX), "
        "070-XXXX-XXXX or 15XX-XXXX number",
    )


def phone_kind(number: object) -> PhoneKind:
    """The kind of ``number`` (any accepted spelling); ``InvalidPhoneNumber`` if it is none."""
    return _classify(number)[1]


def normalize_phone(number: object, *, mobile_only: bool = False) -> str:
    """``number`` as bare national digits (``"+82 10-1234-5678"`` -> ``"01012345678"``).

    Raises :class:`InvalidPhoneNumber` (a ``kmsg.ValidationError``) for anything the module
    docstring's rules refuse, or for a non-mobile number when ``mobile_only`` is set.
    """
    digits, kind = _classify(number)
    if mobile_only and kind is not PhoneKind.MOBILE:
        raise InvalidPhoneNumber(number, f"a {kind.value} number cannot receive messages")
    return digits
