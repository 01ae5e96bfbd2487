"""Korean phone numbers: accepted spellings, normalised forms, kinds and clear refusals."""

from __future__ import annotations

import pytest

from kmsg import ValidationError
from kmsg.messaging import InvalidPhoneNumber, PhoneKind, normalize_phone, phone_kind


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01012345678", "01012345678"),
        ("010-1234-5678", "01012345678"),
        ("010 1234 5678", "01012345678"),
        ("010.1234.5678", "01012345678"),
        ("(010) 1234-5678", "01012345678"),
        (" 010-1234-5678 ", "01012345678"),
        ("+82 10-1234-5678", "01012345678"),
        ("+821012345678", "01012345678"),
        ("82-10-1234-5678", "01012345678"),
        ("821012345678", "01012345678"),
        ("+82 (0)10-1234-5678", "01012345678"),
        ("+82 010 1234 5678", "01012345678"),
        ("011-123-4567", "0111234567"),
        ("016-1234-5678", "01612345678"),
        ("019-123-4567", "0191234567"),
    ],
)
def test_mobile_numbers_normalise_to_bare_digits(raw: str, expected: str) -> None:
    assert normalize_phone(raw, mobile_only=True) == expected
    assert phone_kind(raw) is PhoneKind.MOBILE


@pytest.mark.parametrize(
    ("raw", "expected", "kind"),
    [
        ("02-123-4567", "021234567", PhoneKind.LANDLINE),
        ("02-1234-5678", "0212345678", PhoneKind.LANDLINE),
        ("+82 2-1234-5678", "0212345678", PhoneKind.LANDLINE),
        ("031-123-4567", "0311234567", PhoneKind.LANDLINE),
        ("064-1234-5678", "06412345678", PhoneKind.LANDLINE),
        ("070-1234-5678", "07012345678", PhoneKind.INTERNET),
        ("1588-1234", "15881234", PhoneKind.REPRESENTATIVE),
        ("1644 5678", "16445678", PhoneKind.REPRESENTATIVE),
        ("1899-0000", "18990000", PhoneKind.REPRESENTATIVE),
        ("+82 1588-1234", "15881234", PhoneKind.REPRESENTATIVE),
    ],
)
def test_other_kinds_are_valid_senders(raw: str, expected: str, kind: PhoneKind) -> None:
    assert normalize_phone(raw) == expected
    assert phone_kind(raw) is kind


@pytest.mark.parametrize(
    "raw",
    ["02-123-4567", "070-1234-5678", "1588-1234", "031-123-4567"],
)
def test_only_mobiles_can_receive(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="cannot receive messages"):
        normalize_phone(raw, mobile_only=True)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "no digits"),
        ("010-1234-567", "expected a mobile"),  # 010 needs 8 subscriber digits
        ("010-1234-56789", "expected a mobile"),
        ("012-1234-5678", "expected a mobile"),  # no such prefix
        ("02-123-456", "expected a mobile"),  # too short
        ("035-123-4567", "expected a mobile"),  # no such area code
        ("1234-5678", "expected a mobile"),  # not a 15/16/18 rep number
        ("1588-123", "expected a mobile"),
        ("+1 415 555 0100", "only the Korean country code"),
        ("+44 20 7946 0958", "only the Korean country code"),
        ("010-1234-567a", "only digits"),
        ("010_1234_5678", "only digits"),
        (
            "\uff10\uff11\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",
            "only digits",
        ),  # full-width
        ("+", "no digits"),
        ("+82", "expected a mobile"),
        ("010" + "1" * 40, "longer than 32"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason) as caught:
        normalize_phone(raw)
    assert caught.value.number == raw
    assert isinstance(caught.value, ValidationError)


@pytest.mark.parametrize(
    ("longest", "kind"),
    [
        ("02-1234-5678", PhoneKind.LANDLINE),
        ("+82 2-1234-5678", PhoneKind.LANDLINE),
        ("031-1234-5678", PhoneKind.LANDLINE),
        ("064-1234-5678", PhoneKind.LANDLINE),
        ("010-1234-5678", PhoneKind.MOBILE),
        ("011-1234-5678", PhoneKind.MOBILE),
        ("070-1234-5678", PhoneKind.INTERNET),
        ("1588-1234", PhoneKind.REPRESENTATIVE),
    ],
)
def test_one_digit_past_the_longest_form_is_refused(longest: str, kind: PhoneKind) -> None:
    assert phone_kind(longest) is kind
    for too_long in (longest + "9", longest.replace("-", "-9", 1)):
        with pytest.raises(InvalidPhoneNumber, match="expected a mobile"):
            normalize_phone(too_long)


@pytest.mark.parametrize("digits", ["02" + "1" * 6, "031" + "1" * 6])
def test_one_digit_short_of_the_shortest_landline_is_refused(digits: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="expected a mobile"):
        normalize_phone(digits)


@pytest.mark.parametrize("value", [None, 1012345678, b"01012345678"])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidPhoneNumber, match="expected a string"):
        normalize_phone(value)


def test_normalising_is_idempotent() -> None:
    once = normalize_phone("+82 10-9876-5432")
    assert normalize_phone(once) == once == "01098765432"
