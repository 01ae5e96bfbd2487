"""A fake NHN Cloud Notification gateway (SMS v3.0, AlimTalk v2.3) on 127.0.0.1, for tests.

It checks what NHN's API guides say a request must be (see
:mod:`kmsg.messaging.providers.nhn_api` for the documents): the path with the app key, the
``X-Secret-Key`` header, ``Content-Type: application/json``, the body's fields (unknown ones are
refused with ``-9997``), byte limits in EUC-KR/CP949, registered caller ids, the sender key,
the template and its ``#{var}`` values, ``requestDate``'s format, ``resendParameter``, and at most
1,000 recipients; it answers with the documented ``header`` / ``body.data.sendResultList`` /
``message.sendResults`` shapes and result codes.

``X-NC-API-IDEMPOTENCY-KEY`` behaves as documented: a key used in the last 10 minutes (of
``clock``) is refused with ``-1005`` and nothing is delivered. Every delivery is recorded in
:attr:`FakeNhn.deliveries` (one entry per message that reached a phone, AlimTalk or SMS), so a
test can prove that nothing was delivered twice. A recipient in :attr:`FakeNhn.not_kakao` gets
no AlimTalk (delivery result ``3019``) but the SMS/LMS fallback when ``resendParameter`` asks.

:meth:`FakeNhn.script` makes the next requests fail (HTTP status, body, headers), optionally
after delivering (a lost reply). It runs in a thread, so it serves asyncio and trio tests alike.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KST = timezone(timedelta(hours=9))
SMS_KEYS = {
    "body",
    "sendNo",
    "recipientList",
    "title",
    "requestDate",
    "attachFileIdList",
    "templateId",
    "senderGroupingKey",
    "userId",
    "statsId",
    "originCode",
    "useConversion",
}
SMS_RECIPIENT_KEYS = {
    "recipientNo",
    "countryCode",
    "internationalRecipientNo",
    "templateParameter",
    "recipientGroupingKey",
}
AT_KEYS = {
    "senderKey",
    "templateCode",
    "requestDate",
    "senderGroupingKey",
    "createUser",
    "recipientList",
    "messageOption",
    "statsId",
}
AT_RECIPIENT_KEYS = {
    "recipientNo",
    "templateParameter",
    "resendParameter",
    "buttons",
    "quickReplies",
    "recipientGroupingKey",
}
RESEND_KEYS = {"isResend", "resendType", "resendTitle", "resendContent", "resendSendNo"}
MOBILE = re.compile(r"01[016789]\d{7,8}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")
IDEMPOTENCY_WINDOW = 600.0


@dataclass(frozen=True)
class Delivery:
    """A message that reached a phone: by ``channel`` (SMS, LMS, MMS, ALIMTALK)."""

    channel: str
    to: str
    content: str
    request_id: str
    recipient_seq: int
    fallback: bool = False
    request_date: str | None = None


@dataclass
class Scripted:
    """A canned answer for the next request (``deliver``: handle it first, then answer this)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    deliver: bool = False


class Refused(Exception):
    """Answer the request with an NHN error header."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class FakeNhn:
    """The fake's state; the tests' handle. ``url`` is set once it listens."""

    sms_app_key: str = "sms-app-key"
    alimtalk_app_key: str = "at-app-key"
    secret_key: str = "s3cret-key-value"
    sender_key: str = "a" * 40
    send_nos: set[str] = field(default_factory=lambda: {"0212345678", "15881234"})
    templates: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "WELCOME": ("#{name}님, 가입을 환영합니다.", "TSC03"),
            "PENDING": ("검수 중 #{x}", "TSC01"),
        }
    )
    not_kakao: set[str] = field(default_factory=set)
    attachments: set[int] = field(default_factory=lambda: {7, 8})
    clock: Callable[[], float] = time.time
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    _script: list[Scripted] = field(default_factory=list)
    _keys: dict[str, float] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *answers: Scripted) -> None:
        """Answer the next ``len(answers)`` requests with these, in order."""
        with self.lock:
            self._script.extend(answers)

    def delivered_to(self, number: str) -> list[Delivery]:
        """Every delivery to ``number``."""
        with self.lock:
            return [d for d in self.deliveries if d.to == number]

    # --- request handling (called under the lock) ---------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, headers) for one request."""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        self.requests.append((method, path, headers, body))
        scripted = self._script.pop(0) if self._script else None
        if scripted is not None and not scripted.deliver:
            return scripted.status, scripted.body, scripted.headers
        try:
            status, answer = self._route(method, path, query, headers, body)
        except Refused as refused:
            status, answer = refused.status, _header(refused.code, refused.message)
        if scripted is not None:
            return scripted.status, scripted.body, scripted.headers
        return status, answer, {}

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        sms = re.fullmatch(r"/sms/v3\.0/appKeys/([^/]+)/(sender/sms|sender/mms|sendNos)", path)
        at = re.fullmatch(r"/alimtalk/v2\.3/appkeys/([^/]+)/(messages|senders/[^/]+)", path)
        if sms is None and at is None:
            raise Refused(-9998, "Not exist API.", 404)
        if sms is not None:
            self._auth(sms.group(1), self.sms_app_key, headers, secret_code=-1000)
            what = sms.group(2)
            if what == "sendNos" and method == "GET":
                return 200, self._send_nos(query)
            if method == "POST":
                _json_type(headers)
                return 200, self._send_sms(what == "sender/mms", body)
        else:
            assert at is not None
            self._auth(at.group(1), self.alimtalk_app_key, headers, secret_code=-1001)
            what = at.group(2)
            if what == "messages" and method == "POST":
                _json_type(headers)
                return 200, self._send_alimtalk(body, headers.get("x-nc-api-idempotency-key"))
            if what == "messages" and method == "GET":
                return 200, self._list_messages(query)
            if what.startswith("senders/") and method == "GET":
                return 200, self._sender(what.removeprefix("senders/"))
        raise Refused(-9998, "Not exist API.", 405)

    def _auth(self, app_key: str, expected: str, headers: dict[str, str], secret_code: int) -> None:
        if app_key != expected:
            raise Refused(-1000, "Invalid appKey.")
        if headers.get("x-secret-key") != self.secret_key:
            # The SMS guide documents no code for a wrong secret key: assumed 401 + -1000.
            raise Refused(secret_code, "Invalid secretKey.", 401 if secret_code == -1000 else 200)

    def _request_id(self) -> str:
        now = datetime.fromtimestamp(self.clock(), UTC).astimezone(KST)
        return f"{now:%Y%m%d%H%M%S}fake{next(self._ids):07d}"

    def _request_date(
        self, body: dict[str, Any], *, code_format: int, code_past: int
    ) -> str | None:
        when = body.get("requestDate")
        if when is None:
            return None
        if not isinstance(when, str) or not DATE.fullmatch(when):
            raise Refused(code_format, "Date format error.")
        at = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=KST)
        if at.timestamp() < self.clock() - 60:
            raise Refused(code_past, "RequestDate is not before currentDate.")
        return when

    def _send_sms(self, mms: bool, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or set(body) - SMS_KEYS:
            raise Refused(-9997, "Invalid API parameters.")
        text, send_no, recipients = body.get("body"), body.get("sendNo"), body.get("recipientList")
        if not isinstance(text, str) or not text or (mms and not body.get("title")):
            raise Refused(-2014, "The recipient can not be empty.")
        try:
            size = len(text.encode("cp949"))
            title_size = len(str(body.get("title") or "").encode("cp949"))
        except UnicodeEncodeError:
            raise Refused(-2023, "Unacceptable characters in title and body.") from None
        if size > (2000 if mms else 90) or title_size > 40:
            raise Refused(-2015, "Title or Body exceed maximum byte.")
        if not mms and "title" in body:
            raise Refused(-9997, "Invalid API parameters.")
        if send_no not in self.send_nos:
            raise Refused(-2312, "Not regist sendno.")
        files = body.get("attachFileIdList")
        if files is not None and (not mms or not all(f in self.attachments for f in files)):
            raise Refused(-2004, "File is expired or does not exist.")
        if not isinstance(recipients, list) or not recipients:
            raise Refused(-2001, "RecipientList can not be null.")
        if len(recipients) > 1000:
            raise Refused(-2016, "The max recipient size is 1000.")
        when = self._request_date(body, code_format=-2000, code_past=-2022)
        request_id = self._request_id()
        results = []
        channel = "SMS" if not mms else ("MMS" if files else "LMS")
        for seq, recipient in enumerate(recipients, 1):
            if not isinstance(recipient, dict) or set(recipient) - SMS_RECIPIENT_KEYS:
                raise Refused(-9997, "Invalid API parameters.")
            number = recipient.get("recipientNo")
            ok = isinstance(number, str) and MOBILE.fullmatch(number) is not None
            results.append(
                {
                    "recipientNo": number,
                    "resultCode": 0 if ok else -2019,
                    "resultMessage": "SUCCESS" if ok else "RecipientNo is invalid.",
                    "recipientSeq": seq,
                    "recipientGroupingKey": recipient.get("recipientGroupingKey"),
                }
            )
            if ok:
                self.deliveries.append(
                    Delivery(channel, number, text, request_id, seq, request_date=when)
                )
        if len(results) == 1 and results[0]["resultCode"] != 0:
            raise Refused(-2019, "RecipientNo is invalid.")
        data = {"requestId": request_id, "statusCode": "2", "sendResultList": results}
        return {**_header(0, "SUCCESS"), "body": {"data": data}}

    def _send_alimtalk(self, body: Any, key: str | None) -> dict[str, Any]:
        if key is not None:
            seen = self._keys.get(key)
            if seen is not None and self.clock() - seen < IDEMPOTENCY_WINDOW:
                raise Refused(
                    -1005, "The same 'X-NC-API-IDEMPOTENCY-KEY' was used within the last 10 minute."
                )
            self._keys[key] = self.clock()
        if not isinstance(body, dict) or set(body) - AT_KEYS:
            raise Refused(-3002, "Field is not valid.")
        if body.get("senderKey") != self.sender_key:
            raise Refused(-2017, "Not exist plus friend.")
        template = self.templates.get(str(body.get("templateCode")))
        if template is None:
            raise Refused(-3003, "Template does not exist.")
        if template[1] != "TSC03":
            raise Refused(-3005, "Please check template status.")
        recipients = body.get("recipientList")
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= 1000:
            raise Refused(-2005, "The 'recipientList' must be less than or equal to 1000.")
        when = self._request_date(body, code_format=-2027, code_past=-2025)
        checked = [self._at_recipient(template[0], r) for r in recipients]
        request_id = self._request_id()
        results = []
        for seq, (recipient, content, resend) in enumerate(checked, 1):
            number = recipient["recipientNo"]
            results.append(
                {
                    "recipientSeq": seq,
                    "recipientNo": number,
                    "resultCode": 0,
                    "resultMessage": "SUCCESS",
                    "recipientGroupingKey": recipient.get("recipientGroupingKey"),
                }
            )
            self._deliver_alimtalk(request_id, seq, recipient, content, resend, when)
        return {
            **_header(0, "SUCCESS"),
            "message": {"requestId": request_id, "sendResults": results},
        }

    def _at_recipient(
        self, template: str, recipient: Any
    ) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
        if not isinstance(recipient, dict) or set(recipient) - AT_RECIPIENT_KEYS:
            raise Refused(-3002, "Field is not valid.")
        number = recipient.get("recipientNo")
        if not isinstance(number, str) or MOBILE.fullmatch(number) is None:
            raise Refused(-4019, "Invalid recipient number.")
        values = recipient.get("templateParameter") or {}
        wanted = set(re.findall(r"#\{(\w+)\}", template))
        if not isinstance(values, dict) or wanted - set(values):
            raise Refused(-3004, "Please check template parameter.")
        content = re.sub(r"#\{(\w+)\}", lambda m: str(values[m.group(1)]), template)
        resend = recipient.get("resendParameter")
        if resend is not None:
            if not isinstance(resend, dict) or set(resend) - RESEND_KEYS:
                raise Refused(-4200, "Resend Message is invalid.")
            if not isinstance(resend.get("isResend", False), bool):
                raise Refused(-4200, "Resend Message is invalid.")
            if resend.get("resendType") not in (None, "SMS", "LMS"):
                raise Refused(-4200, "Resend Message is invalid.")
            if resend.get("isResend") and resend.get("resendSendNo") not in self.send_nos:
                raise Refused(-1003, "Invalid Sms Sendno")
        return recipient, content, resend

    def _deliver_alimtalk(
        self,
        request_id: str,
        seq: int,
        recipient: dict[str, Any],
        content: str,
        resend: dict[str, Any] | None,
        when: str | None,
    ) -> None:
        number = recipient["recipientNo"]
        kakao = number not in self.not_kakao
        resending = bool(resend and resend.get("isResend"))
        resend_status = "RSC01"
        if kakao:
            self.deliveries.append(
                Delivery("ALIMTALK", number, content, request_id, seq, request_date=when)
            )
        elif resending:
            assert resend is not None
            text = resend.get("resendContent") or content
            kind = resend.get("resendType") or (
                "SMS" if len(text.encode("cp949", "replace")) <= 90 else "LMS"
            )
            self.deliveries.append(
                Delivery(kind, number, text, request_id, seq, fallback=True, request_date=when)
            )
            resend_status = "RSC04"
        now = datetime.fromtimestamp(self.clock(), UTC).astimezone(KST)
        self.messages.append(
            {
                "requestId": request_id,
                "recipientSeq": seq,
                "recipientNo": number,
                "senderKey": self.sender_key,
                "createDate": f"{now:%Y-%m-%d %H:%M:%S}",
                "messageStatus": "COMPLETED" if kakao else "FAILED",
                "resultCode": "1000" if kakao else "3019",
                "resendStatus": resend_status,
                "recipientGroupingKey": recipient.get("recipientGroupingKey"),
            }
        )

    def _list_messages(self, query: dict[str, str]) -> dict[str, Any]:
        dates = ("startCreateDate", "endCreateDate")
        if "requestId" not in query and not all(DATE.fullmatch(query.get(d, "")) for d in dates):
            raise Refused(-4103, "Invalid request ID or request start date/request end date")
        found = [
            m
            for m in self.messages
            if query.get("requestId") in (None, m["requestId"])
            and query.get("recipientGroupingKey") in (None, m["recipientGroupingKey"])
            and query.get("recipientNo") in (None, m["recipientNo"])
            and (
                "requestId" in query
                or query["startCreateDate"] <= m["createDate"][:16] <= query["endCreateDate"]
            )
        ]
        return {
            **_header(0, "success"),
            "messageSearchResultResponse": {"messages": found, "totalCount": len(found)},
        }

    def _send_nos(self, query: dict[str, str]) -> dict[str, Any]:
        numbers = sorted(n for n in self.send_nos if query.get("sendNo") in (None, n))
        data = [{"serviceId": 1, "sendNo": n, "useYn": "Y", "blockYn": "N"} for n in numbers]
        return {
            **_header(0, "SUCCESS"),
            "body": {"pageNum": 1, "pageSize": 15, "totalCount": len(data), "data": data},
        }

    def _sender(self, sender_key: str) -> dict[str, Any]:
        if sender_key != self.sender_key:
            raise Refused(-2017, "Not exist plus friend.")
        sender = {
            "plusFriendId": "@kmsg",
            "senderKey": sender_key,
            "status": "YSC03",
            "block": False,
            "dormant": False,
        }
        return {**_header(0, "success"), "sender": sender}


def _header(code: int, message: str) -> dict[str, Any]:
    return {"header": {"isSuccessful": code == 0, "resultCode": code, "resultMessage": message}}


def _json_type(headers: dict[str, str]) -> None:
    if not headers.get("content-type", "").startswith("application/json"):
        raise Refused(-9996, "Only application/json Content-type is supported.")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeNhn

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _serve(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.fake.lock:
            status, body, extra = self.fake.handle(method, parts.path, query, headers, raw)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


@contextmanager
def running(fake: FakeNhn) -> Iterator[FakeNhn]:
    """Serve ``fake`` on a free port of 127.0.0.1 (its ``url``) until the block ends."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
