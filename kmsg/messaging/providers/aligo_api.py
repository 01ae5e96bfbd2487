"""Aligo's replies and what they mean to kmsg: reply Structs, the error mapping, schedule fields.

Aligo answers every call with HTTP 200 and a JSON object whose ``result_code`` says how it went
(Aligo, "API SPEC 및 연동예제 안내", sections 문자보내기 and 결과조회 API / 발송가능건수):
``1`` is success; a code ``<= 0`` is a refusal, its reason in ``message``. The stored copy of
Aligo's pages available to kmsg lists the fields but **not the table of negative codes**, so the
mapping below rests on one code seen in Aligo's public replies (``-101`` "인증오류입니다.") and,
for the rest, on the words of ``message`` (Aligo's reasons are Korean sentences). A refusal
means nothing was sent, so retrying one never duplicates a message:

==================================================  ==========================  =========
``result_code <= 0`` with ...                       code                        retryable
==================================================  ==========================  =========
``-101``, or a message about 인증 (auth, IP),        ``AUTHENTICATION_FAILED``   no
API key, 아이디 (user id), 권한 (permission)
a message about 잔여 / 잔액 / 포인트 / 충전           ``INSUFFICIENT_BALANCE``    no
(balance, points, top-up)
a message about 수신 (receiver, number, opt-out)      ``INVALID_RECIPIENT``       no
a message about 발신 (sender), 예약 (schedule),       ``INVALID_REQUEST``         no
제목 (title), 내용 / 메시지 / byte (text), 형식 /
파라미터 / 필수 (format, parameter, required)
any other (an unknown or transient refusal)          ``PROVIDER_ERROR``          yes
``result_code 1`` but ``success_cnt`` 0 (the one     ``INVALID_RECIPIENT``       no
receiver was refused)
==================================================  ==========================  =========

An unknown refusal is retried (bounded by the job's ``max_attempts``) rather than dead-lettered
at once: nothing was sent, so the only cost of a wrong guess is a few quick attempts.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Final

import msgspec

from kmsg.errors import ProviderErrorCode, ValidationError

__all__ = [
    "KST",
    "MIN_SCHEDULE_LEAD",
    "RemainReply",
    "SendReply",
    "refusal_code",
    "schedule_fields",
]

KST: Final = dt.timezone(dt.timedelta(hours=9), "KST")
"""Korea Standard Time (no daylight saving since 1988), the zone of ``rdate`` / ``rtime``."""
MIN_SCHEDULE_LEAD: Final = 600.0
"""Aligo takes a scheduled send at least 10 minutes ahead (``rtime``: 현재시간기준 10분이후)."""

AUTH_CODE: Final = -101
_KEYWORDS: Final = (
    (ProviderErrorCode.AUTHENTICATION_FAILED, ("인증", "api key", "아이디", "권한")),
    (ProviderErrorCode.INSUFFICIENT_BALANCE, ("잔여", "잔액", "포인트", "충전")),
    (ProviderErrorCode.INVALID_RECIPIENT, ("수신",)),
    (
        ProviderErrorCode.INVALID_REQUEST,
        ("발신", "예약", "제목", "내용", "메시지", "메세지", "byte", "형식", "파라미터", "필수"),
    ),
)


class SendReply(msgspec.Struct, frozen=True, kw_only=True):
    """The reply of ``send/``: ``result_code``, ``message``; on success the rest."""

    result_code: int
    message: str = ""
    msg_id: int | str | None = None
    success_cnt: int = 0
    error_cnt: int = 0
    msg_type: str | None = None


class RemainReply(msgspec.Struct, frozen=True, kw_only=True):
    """The reply of ``remain/``: sends still affordable per type (``SMS_CNT``, ...)."""

    result_code: int
    message: str = ""
    SMS_CNT: int = 0
    LMS_CNT: int = 0
    MMS_CNT: int = 0


def refusal_code(result_code: int, message: str) -> ProviderErrorCode:
    """The kmsg code of a refusal (``result_code <= 0``), as the module docstring's table says."""
    if result_code == AUTH_CODE:
        return ProviderErrorCode.AUTHENTICATION_FAILED
    text = message.lower()
    for code, words in _KEYWORDS:
        if any(word in text for word in words):
            return code
    return ProviderErrorCode.PROVIDER_ERROR


def schedule_fields(at: float, *, now: float | None = None) -> dict[str, str]:
    """``rdate`` (YYYYMMDD) and ``rtime`` (HHII) in KST for a send at epoch ``at``.

    Aligo schedules to the minute: a time between minutes is moved to the next minute, never
    earlier than asked. Raises ``ValidationError`` when ``at`` is less than 10 minutes ahead
    (Aligo would refuse it).
    """
    current = time.time() if now is None else now
    if not math.isfinite(at) or at < current + MIN_SCHEDULE_LEAD:
        raise ValidationError("an Aligo scheduled send must be at least 10 minutes ahead")
    minute = math.ceil(at / 60) * 60
    when = dt.datetime.fromtimestamp(minute, KST)
    return {"rdate": when.strftime("%Y%m%d"), "rtime": when.strftime("%H%M")}
