"""NHN Cloud result codes mapped to :class:`~kmsg.ProviderErrorCode` (no I/O).

From NHN's result-code pages (TOAST-DOCS): SMS "Result Code" (``TOAST-DOCS/SMS``,
``en/error-code.md``: "API Result Code", "Result Code of Receiving") and KakaoTalk Bizmessage
"Error Code" (``TOAST-DOCS/Alimtalk``, ``en/error-code.md``: "API Response Code", "Delivery
Result Code"). An *API* code answers a request (``header.resultCode`` or a recipient's
``resultCode``, 0 is success); a *delivery* code says what finally reached the phone (delivery
reports and queries, ``1000`` is success).

NHN bills after the fact and documents no "insufficient balance" code; the quota codes (SMS
``-2052``, the organisation's monthly limit; AlimTalk delivery ``4156``, the daily maximum) map
to ``INSUFFICIENT_BALANCE``, the closest kmsg code that is not retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from kmsg.errors import ProviderErrorCode

__all__ = [
    "ALIMTALK_DUPLICATE_KEY",
    "Service",
    "alimtalk_delivery_error",
    "api_error_code",
    "sms_delivery_error",
]

Service = Literal["sms", "alimtalk"]
"""Which NHN API: SMS v3.0 or AlimTalk v2.3."""

ALIMTALK_DUPLICATE_KEY: Final = -1005
"""AlimTalk's answer to a request whose ``X-NC-API-IDEMPOTENCY-KEY`` was used in the last 10 min."""

# API result codes (header.resultCode and per-recipient resultCode); unlisted: INVALID_REQUEST.
_AUTH = ProviderErrorCode.AUTHENTICATION_FAILED
_SMS_API_CODES: Final[Mapping[int, ProviderErrorCode]] = {
    -1000: _AUTH,  # invalid appkey
    -1001: _AUTH,  # appkey does not exist
    -1002: _AUTH,  # appkey terminated
    -1003: _AUTH,  # not a project member
    -1004: _AUTH,  # IP not allowed
    -1007: _AUTH,  # invalid member
    -1008: _AUTH,  # project blocked
    -2018: ProviderErrorCode.INVALID_RECIPIENT,  # recipient number missing
    -2019: ProviderErrorCode.INVALID_RECIPIENT,  # recipient number invalid
    -6001: ProviderErrorCode.INVALID_RECIPIENT,  # recipient opted out (080)
    -2052: ProviderErrorCode.INSUFFICIENT_BALANCE,  # organisation's monthly limit reached
    -2053: ProviderErrorCode.RATE_LIMIT_EXCEEDED,  # daily limit per country
    -2110: ProviderErrorCode.TEMPLATE_NOT_FOUND,
    -2009: ProviderErrorCode.PROVIDER_ERROR,  # attachment upload failed (server)
    -2021: ProviderErrorCode.PROVIDER_ERROR,  # failed to queue (server)
    -9999: ProviderErrorCode.PROVIDER_ERROR,  # system error
}
_ALIMTALK_API_CODES: Final[Mapping[int, ProviderErrorCode]] = {
    -1000: _AUTH,  # invalid appKey
    -1001: _AUTH,  # invalid secretKey
    -4004: _AUTH,  # appkey does not exist
    -4005: _AUTH,  # appkey disabled
    -3003: ProviderErrorCode.TEMPLATE_NOT_FOUND,  # template does not exist
    -3005: ProviderErrorCode.TEMPLATE_NOT_FOUND,  # template not approved
    -4019: ProviderErrorCode.INVALID_RECIPIENT,  # invalid recipient number
    -5000: ProviderErrorCode.INVALID_RECIPIENT,  # invalid receiving number
    -3301: ProviderErrorCode.INVALID_RECIPIENT,  # recipient opted out
    -7000: ProviderErrorCode.PROVIDER_ERROR,  # vendor (Kakao) request failed
    -9999: ProviderErrorCode.PROVIDER_ERROR,  # system error
}
# Delivery result codes (what a recipient finally got), for delivery reports and polling.
_ALIMTALK_DELIVERY: Final[Mapping[str, ProviderErrorCode]] = {
    "3018": ProviderErrorCode.NOT_KAKAO_USER,  # cannot send (SIM/KakaoTalk mismatch, inactive)
    "3019": ProviderErrorCode.NOT_KAKAO_USER,  # not a KakaoTalk user
    "3020": ProviderErrorCode.NOT_KAKAO_USER,  # the user blocks AlimTalk
    "3021": ProviderErrorCode.NOT_KAKAO_USER,  # KakaoTalk version too old
    "3022": ProviderErrorCode.OUTSIDE_SEND_WINDOW,  # outside 08:00-20:50
    "1020": ProviderErrorCode.INVALID_RECIPIENT,
    "3008": ProviderErrorCode.INVALID_RECIPIENT,
    "3015": ProviderErrorCode.TEMPLATE_NOT_FOUND,
    "4133": ProviderErrorCode.TEMPLATE_NOT_FOUND,  # template stopped
    "4156": ProviderErrorCode.INSUFFICIENT_BALANCE,  # daily maximum reached
    **dict.fromkeys(
        ("2001", "3000", "3006", "3010", "3012", "9998", "9999"), ProviderErrorCode.PROVIDER_ERROR
    ),
}
_SMS_DELIVERY: Final[Mapping[str, ProviderErrorCode]] = {
    **dict.fromkeys(
        ("1002", "3001", "3003", "3006", "3018", "4003", "4005"),
        ProviderErrorCode.INVALID_RECIPIENT,
    ),
    **dict.fromkeys(("1001", "3011", "4009"), ProviderErrorCode.PROVIDER_ERROR),
}


def api_error_code(service: Service, result_code: int) -> ProviderErrorCode:
    """The kmsg code for an NHN API ``resultCode`` other than 0 (module docstring's documents).

    Unlisted codes are request errors (``INVALID_REQUEST``): NHN documents them as problems
    with the request's fields, which trying again does not fix.
    """
    table = _SMS_API_CODES if service == "sms" else _ALIMTALK_API_CODES
    return table.get(result_code, ProviderErrorCode.INVALID_REQUEST)


def alimtalk_delivery_error(result_code: str) -> ProviderErrorCode | None:
    """The kmsg code for an AlimTalk delivery result code; None for ``1000`` (delivered).

    "Not a KakaoTalk user" and its kin (3018-3021) are ``NOT_KAKAO_USER`` and 3022 is
    ``OUTSIDE_SEND_WINDOW``: both ``falls_back``, so an SMS/LMS may still reach the recipient.
    """
    if result_code == "1000":
        return None
    return _ALIMTALK_DELIVERY.get(result_code, ProviderErrorCode.UNKNOWN_ERROR)


def sms_delivery_error(result_code: str) -> ProviderErrorCode | None:
    """The kmsg code for an SMS "result code of receiving"; None for ``1000`` (delivered)."""
    if result_code == "1000":
        return None
    return _SMS_DELIVERY.get(result_code, ProviderErrorCode.UNKNOWN_ERROR)
