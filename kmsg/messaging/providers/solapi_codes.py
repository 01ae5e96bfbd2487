"""SOLAPI's answers as :class:`~kmsg.ProviderErrorCode` values: status codes and error codes.

SOLAPI answers a send in two ways (see :mod:`kmsg.messaging.providers.solapi`):

* a whole request refused: an HTTP status outside 2xx with a JSON body
  ``{"errorCode": "...", "errorMessage": "..."}`` (documents: "API Key 인증 방식" for the
  authentication codes, "심플 메시지" for ``ValidationError`` 400 and ``NotEnoughBalance`` 402);
  :func:`refusal_code` maps it, by ``errorCode`` first and the HTTP status second;
* one message refused inside a 200 reply: an entry of ``failedMessageList`` whose
  ``statusCode`` is one of the four-digit message status codes (document "메시지 상태 코드",
  ``api-reference/message-status-codes.md``); :func:`status_code` maps it. The same codes
  arrive later in delivery reports, so a delivery reconciler can use the same function.

The message status codes, by first digit: ``1xxx`` refused at reception, ``2000`` accepted,
``2xxx`` failed inside SOLAPI, ``3000`` handed to the carrier, ``3xxx`` failed at the carrier or
at KakaoTalk, ``4000`` delivered. A code missing from :data:`STATUS_CODES` maps by that digit:
``1xxx`` to ``INVALID_REQUEST`` (the request itself was refused; sending it again will not
help), anything else to ``PROVIDER_ERROR`` (retryable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from kmsg.errors import ProviderErrorCode

__all__ = ["ERROR_CODES", "STATUS_CODES", "refusal_code", "status_code"]

_C = ProviderErrorCode

STATUS_CODES: Final[Mapping[str, ProviderErrorCode]] = {
    # 1xxx: refused at reception
    "1010": _C.INVALID_REQUEST,  # a required value is missing
    "1011": _C.INVALID_REQUEST,  # format error
    "1013": _C.INVALID_REQUEST,  # a subject on an SMS
    "1014": _C.INVALID_REQUEST,  # subject over 40 bytes
    "1020": _C.AUTHENTICATION_FAILED,  # unknown account or wrong password
    "1023": _C.INVALID_REQUEST,  # no such image
    "1024": _C.PROVIDER_ERROR,  # server error
    "1025": _C.INVALID_REQUEST,  # unknown message type
    "1026": _C.INVALID_REQUEST,  # duplicate recipient
    "1029": _C.INVALID_REQUEST,  # a character outside EUC-KR in a text message
    "1030": _C.INSUFFICIENT_BALANCE,  # balance too low
    "1031": _C.INVALID_REQUEST,  # text too long for its type
    "1032": _C.INVALID_REQUEST,  # invalid custom field
    "1034": _C.INVALID_REQUEST,  # no such imageId
    "1041": _C.INVALID_REQUEST,  # invalid KakaoTalk channel (pfId)
    "1042": _C.TEMPLATE_NOT_FOUND,  # invalid AlimTalk template id
    "1043": _C.INVALID_REQUEST,  # text differs from the registered template
    "1051": _C.INVALID_REQUEST,  # unregistered FriendTalk image id
    "1058": _C.PROVIDER_ERROR,  # no route to send by
    "1060": _C.INVALID_RECIPIENT,  # blocked recipient
    "1061": _C.INVALID_RECIPIENT,  # the recipient opted out (080 free opt-out)
    "1062": _C.INVALID_REQUEST,  # sender number not registered
    "1064": _C.INVALID_REQUEST,  # blocked after a KISA report
    # 2xxx: failed inside SOLAPI
    "2011": _C.INVALID_REQUEST,  # format error
    "2024": _C.PROVIDER_ERROR,  # server error
    "2060": _C.INVALID_RECIPIENT,  # blocked recipient
    "2061": _C.INVALID_RECIPIENT,  # the recipient opted out
    "2062": _C.INVALID_REQUEST,  # sender number not registered
    "2063": _C.AUTHENTICATION_FAILED,  # account blocked
    "2064": _C.INVALID_REQUEST,  # blocked after a KISA report
    "2230": _C.INSUFFICIENT_BALANCE,  # balance too low
    "2254": _C.INVALID_REQUEST,  # treated as spam by the platform
    # 3xxx: failed at the carrier or at KakaoTalk
    "3010": _C.INVALID_RECIPIENT,  # recipient number malformed
    "3013": _C.INVALID_REQUEST,  # sender number malformed
    "3032": _C.INVALID_RECIPIENT,  # not a subscriber
    "3050": _C.INVALID_RECIPIENT,  # handset cannot receive SMS
    "3054": _C.INVALID_REQUEST,  # spam
    "3055": _C.INVALID_REQUEST,  # spam (number registered at nospam.or.kr)
    "3059": _C.INVALID_REQUEST,  # forged sender number
    "3101": _C.INVALID_REQUEST,  # invalid sender profile key
    "3102": _C.NOT_KAKAO_USER,  # not a friend of the channel (FriendTalk)
    "3103": _C.INVALID_REQUEST,  # message does not match its template
    "3104": _C.NOT_KAKAO_USER,  # not a KakaoTalk user
    "3105": _C.TEMPLATE_NOT_FOUND,  # template not registered
    "3106": _C.INVALID_REQUEST,  # invalid channel
    "3107": _C.NOT_KAKAO_USER,  # no KakaoTalk use in 72 hours, or AlimTalk blocked
    "3108": _C.OUTSIDE_SEND_WINDOW,  # outside the send window (08:00-20:00)
}
"""Message status code -> kmsg code; any other code maps by its first digit (module docstring)."""

ERROR_CODES: Final[Mapping[str, ProviderErrorCode]] = {
    "InvalidAPIKey": _C.AUTHENTICATION_FAILED,
    "SignatureDoesNotMatch": _C.AUTHENTICATION_FAILED,
    "RequestTimeTooSkewed": _C.AUTHENTICATION_FAILED,
    "DuplicatedSignature": _C.AUTHENTICATION_FAILED,
    "NotEnoughBalance": _C.INSUFFICIENT_BALANCE,
    "ValidationError": _C.INVALID_REQUEST,
}
"""A refused request's ``errorCode`` -> kmsg code; the HTTP status decides for any other."""

_RETRYABLE_ERRORS: Final = frozenset({"DuplicatedSignature"})
"""Errors whose kmsg code is not retryable but whose request is worth sending again: a
``DuplicatedSignature`` is cured by the fresh salt the next attempt signs with."""

_STATUS_FALLBACK: Final[Mapping[int, ProviderErrorCode]] = {
    401: _C.AUTHENTICATION_FAILED,
    402: _C.INSUFFICIENT_BALANCE,
    403: _C.AUTHENTICATION_FAILED,
    408: _C.NETWORK_TIMEOUT,
    429: _C.RATE_LIMIT_EXCEEDED,
}


def status_code(code: str) -> ProviderErrorCode:
    """The kmsg code of a SOLAPI message status code (``"3104"`` -> ``NOT_KAKAO_USER``)."""
    known = STATUS_CODES.get(code)
    if known is not None:
        return known
    return _C.INVALID_REQUEST if code.startswith("1") else _C.PROVIDER_ERROR


def refusal_code(http_status: int, error_code: str | None) -> tuple[ProviderErrorCode, bool]:
    """The kmsg code and retryable flag of a request SOLAPI refused with ``http_status``.

    A 429 is always ``RATE_LIMIT_EXCEEDED`` and a 5xx always ``PROVIDER_ERROR`` (both
    retryable), whatever the body says; otherwise a known ``errorCode`` decides, then the
    status (401/403 authentication, 402 balance, other 4xx ``INVALID_REQUEST``).
    """
    if http_status == 429:
        code = _C.RATE_LIMIT_EXCEEDED
    elif http_status >= 500:
        code = _C.PROVIDER_ERROR
    elif error_code is not None and error_code in ERROR_CODES:
        code = ERROR_CODES[error_code]
    else:
        code = _STATUS_FALLBACK.get(http_status, _C.INVALID_REQUEST)
    return code, code.retryable or error_code in _RETRYABLE_ERRORS
