"""A fake SOLAPI on 127.0.0.1: the messages v4 and cash APIs, strict about what they accept.

It follows the documents :mod:`kmsg.messaging.providers.solapi` names:

* every request must carry ``Authorization: HMAC-SHA256 apiKey=..., date=..., salt=...,
  signature=...``; refused with 403 and SOLAPI's documented ``errorCode``: ``InvalidAPIKey``,
  ``RequestTimeTooSkewed`` (date more than 15 minutes from the fake's clock),
  ``SignatureDoesNotMatch``, ``DuplicatedSignature`` (a signature seen in the last 15
  minutes); a header that does not parse, or a salt outside 12-64 characters, is refused as
  ``InvalidAuthorization`` (the fake's own name: the documents give none);
* ``POST /messages/v4/send-many/detail``: a JSON body of ``messages`` (only the documented
  fields; anything else is a 400 ``ValidationError``); each message is checked (registered
  sender, type, byte limits, channel, template and its variables, image id, custom fields) and
  either accepted (``messageList``, status ``2000``) or listed in ``failedMessageList`` with the
  documented status code. ``failing`` scripts a status code per recipient. Accepted messages
  cost balance; a request the balance cannot pay is a 402 ``NotEnoughBalance``. Like SOLAPI it
  does not deduplicate: the same message twice is delivered twice;
* ``GET /cash/v1/balance``: the documented balance body.

``script(...)`` queues a raw reply (429 with ``Retry-After``, a 5xx, a slow reply) answered
before any check. The server runs in a thread, so it serves tests under asyncio and trio alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SKEW_LIMIT = 15 * 60
PRICES = {"SMS": 20, "LMS": 50, "MMS": 200, "ATA": 15, "CTA": 20}
STATUS_MESSAGES = {
    "1010": "필수 입력 값 미입력",
    "1013": "제목은 문자 타입이 'SMS'일 경우 사용이 불가능합니다.",
    "1014": "제목은 40byte까지 사용 가능합니다.",
    "1025": "잘못된 메시지 타입",
    "1029": "문자메시지의 경우 EUC-KR(완성형 한글) 범위 안에 있는 문자만 사용 합니다.",
    "1031": "메시지 길이 초과",
    "1032": "유효한 커스텀 필드 값이 아닙니다.",
    "1033": "kakaoOptions은 메시지가 ATA 나 CTA인 경우에만 사용가능합니다.",
    "1034": "imageId가 존재하지 않습니다.",
    "1041": "유효한 플러스 친구 값이 아닙니다.",
    "1042": "유효한 템플릿 아이디가 아닙니다.",
    "1043": "등록한 템플릿과 내용이 다릅니다.",
    "1044": "유효한 버튼 값이 아닙니다.",
    "1062": "발신번호 미등록",
    "2000": "정상 접수(이통사로 접수 예정) ",
}
_AUTH = re.compile(
    r"HMAC-SHA256 apiKey=(?P<key>[^,\s]+), date=(?P<date>[^,\s]+), "
    r"salt=(?P<salt>[^,\s]+), signature=(?P<signature>[0-9a-f]{64})"
)
_BODY_KEYS = {"messages", "allowDuplicates", "showMessageList", "strict", "agent"}
_MESSAGE_KEYS = {
    "to",
    "from",
    "text",
    "type",
    "country",
    "subject",
    "imageId",
    "kakaoOptions",
    "customFields",
    "autoTypeDetect",
}
_KAKAO_KEYS = {"pfId", "templateId", "variables", "disableSms", "buttons", "imageId"}


@dataclass
class Scripted:
    """A raw reply the fake gives to the next request, after ``delay`` seconds."""

    status: int
    body: bytes
    headers: dict[str, str]
    delay: float = 0.0


@dataclass
class Recorded:
    """A request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class FakeSolapi:
    """The fake's state: credentials, what is registered, and what it received and accepted."""

    api_key: str = "NCSAYU7YDBXYORXC"
    api_secret: str = "fake-api-secret-0123456789abcdef"
    senders: set[str] = field(default_factory=lambda: {"029302266", "01000000000"})
    pf_id: str = "KA01PF190227072057634pRBhbpAw1w1"
    templates: dict[str, set[str]] = field(
        default_factory=lambda: {"TPL_ORDER": {"name", "order"}, "TPL_PLAIN": set()}
    )
    images: set[str] = field(default_factory=lambda: {"FILEID191113003354156UvCuw3tubTl"})
    balance: float = 10_000.0
    point: float = 0.0
    failing: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    used_signatures: dict[str, float] = field(default_factory=dict)
    scripted: deque[Scripted] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _sequence: int = 0

    def script(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request with ``status`` and ``body`` (JSON unless bytes)."""
        raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self.scripted.append(Scripted(status, raw, headers or {}, delay))

    def handle(self, request: Recorded) -> tuple[int, dict[str, str], bytes] | Scripted:
        """The reply to ``request`` (a ``Scripted`` one when queued)."""
        with self.lock:
            self.requests.append(request)
            if self.scripted:
                return self.scripted.popleft()
            refused = self._authenticate(request.headers.get("Authorization", ""))
            if refused is not None:
                return refused
            if request.method == "GET" and request.path == "/cash/v1/balance":
                return _reply(200, self._balance_body())
            if request.method == "POST" and request.path == "/messages/v4/send-many/detail":
                return self._send(request)
            return _error(404, "NotFound", f"{request.method} {request.path}")

    def _authenticate(self, header: str) -> tuple[int, dict[str, str], bytes] | None:
        found = _AUTH.fullmatch(header)
        if found is None or not 12 <= len(found["salt"]) <= 64:
            return _error(403, "InvalidAuthorization", "Authorization header malformed")
        if found["key"] != self.api_key:
            return _error(403, "InvalidAPIKey", "유효한 API Key가 아님")
        try:
            signed_at = datetime.fromisoformat(found["date"].replace("Z", "+00:00"))
        except ValueError:
            return _error(403, "InvalidAuthorization", "date is not ISO 8601")
        now = self.clock()
        if signed_at.tzinfo is None or abs(signed_at.timestamp() - now) > SKEW_LIMIT:
            return _error(403, "RequestTimeTooSkewed", "시간 값이 서버 시간을 15분 이상 벗어남")
        expected = hmac.new(
            self.api_secret.encode(),
            (found["date"] + found["salt"]).encode(),
            hashlib.sha256,
        ).hexdigest()
        if not hmac.compare_digest(expected, found["signature"]):
            return _error(403, "SignatureDoesNotMatch", "생성한 Signature가 일치하지 않음")
        seen = self.used_signatures.get(found["signature"])
        if seen is not None and now - seen <= SKEW_LIMIT:
            return _error(403, "DuplicatedSignature", "15분 안에 동일한 signature 값")
        self.used_signatures[found["signature"]] = now
        return None

    def _balance_body(self) -> dict[str, Any]:
        return {
            "lowBalanceAlert": {"enabled": False, "balances": [], "channels": []},
            "point": self.point,
            "minimumCash": 0,
            "rechargeTo": 0,
            "rechargeTryCount": 0,
            "autoRecharge": 0,
            "accountId": "12925149",
            "balance": self.balance,
        }

    def _send(self, request: Recorded) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("Content-Type") != "application/json":
            return _error(400, "ValidationError", "Content-Type must be application/json")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "ValidationError", "body is not JSON")
        problem = _shape_problem(body)
        if problem is not None:
            return _error(400, "ValidationError", problem)
        failed: list[dict[str, Any]] = []
        accepted: list[dict[str, Any]] = []
        for message in body["messages"]:
            self._sequence += 1
            message_id = f"M4V20260101000000{self._sequence:014d}"
            code = self._check(message)
            entry = {"message": message, "messageId": message_id, "statusCode": code}
            (accepted if code == "2000" else failed).append(entry)
        cost = sum(PRICES[entry["message"]["type"]] for entry in accepted)
        if cost > self.balance + self.point:
            return _error(402, "NotEnoughBalance", "보유 잔액이 부족합니다.")
        self.balance -= cost
        self.delivered.extend(
            entry["message"] | {"messageId": entry["messageId"]} for entry in accepted
        )
        reply: dict[str, Any] = {
            "groupInfo": _group_info(len(accepted), len(failed)),
            "failedMessageList": [_failed_entry(entry) for entry in failed],
        }
        if body.get("showMessageList"):
            reply["messageList"] = [_listed_entry(entry) for entry in accepted]
        return _reply(200, reply)

    def _check(self, message: dict[str, Any]) -> str:
        """The status code of one message: ``2000`` if accepted, else the documented code."""
        if not message.get("to") or not message.get("from"):
            return "1010"
        if message["from"] not in self.senders:
            return "1062"
        kind = message.get("type")
        if kind not in PRICES:
            return "1025"
        custom = message.get("customFields", {})
        if not isinstance(custom, dict) or not all(
            isinstance(v, str) and len(k) <= 30 and len(v) <= 100 for k, v in custom.items()
        ):
            return "1032"
        check = {
            "SMS": self._check_sms,
            "LMS": self._check_lms,
            "MMS": self._check_lms,
            "ATA": self._check_alimtalk,
            "CTA": self._check_friendtalk,
        }[kind]
        return check(message) or self.failing.get(message["to"], "2000")

    def _check_sms(self, message: dict[str, Any]) -> str | None:
        if "subject" in message:
            return "1013"
        if "kakaoOptions" in message or "imageId" in message:
            return "1033"
        return _text_problem(message.get("text"), 90)

    def _check_lms(self, message: dict[str, Any]) -> str | None:
        if "kakaoOptions" in message:
            return "1033"
        subject = message.get("subject", "")
        if _euc_kr_size(subject) is None:
            return "1029"
        if (_euc_kr_size(subject) or 0) > 40:
            return "1014"
        if message["type"] == "MMS" and message.get("imageId") not in self.images:
            return "1034"
        if message["type"] == "LMS" and "imageId" in message:
            return "1011"
        return _text_problem(message.get("text"), 2000)

    def _check_alimtalk(self, message: dict[str, Any]) -> str | None:
        options = message.get("kakaoOptions")
        if not isinstance(options, dict) or set(options) - _KAKAO_KEYS:
            return "1010"
        if options.get("pfId") != self.pf_id:
            return "1041"
        template = self.templates.get(options.get("templateId", ""))
        if template is None:
            return "1042"
        variables = options.get("variables", {})
        if set(variables) != {f"#{{{name}}}" for name in template} or not all(
            isinstance(value, str) for value in variables.values()
        ):
            return "1043"
        if not isinstance(options.get("disableSms", False), bool):
            return "1011"
        return None

    def _check_friendtalk(self, message: dict[str, Any]) -> str | None:
        options = message.get("kakaoOptions")
        if not isinstance(options, dict) or set(options) - _KAKAO_KEYS:
            return "1010"
        if options.get("pfId") != self.pf_id:
            return "1041"
        buttons = options.get("buttons", [])
        if len(buttons) > 5 or not all(_web_button(button) for button in buttons):
            return "1044"
        text = message.get("text")
        if not isinstance(text, str) or not text:
            return "1010"
        return "1031" if len(text) > 1000 else None


def _shape_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or set(body) - _BODY_KEYS:
        return f"unknown body fields: {sorted(set(body) - _BODY_KEYS)}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 10_000:
        return "messages must be a list of 1-10000 messages"
    for message in messages:
        if not isinstance(message, dict) or set(message) - _MESSAGE_KEYS:
            return f"unknown message fields: {sorted(set(message) - _MESSAGE_KEYS)}"
    return None


def _web_button(button: Any) -> bool:
    return (
        isinstance(button, dict)
        and set(button) == {"buttonType", "buttonName", "linkMo"}
        and button["buttonType"] == "WL"
        and 1 <= len(button["buttonName"]) <= 14
        and str(button["linkMo"]).startswith(("http://", "https://"))
    )


def _euc_kr_size(text: str) -> int | None:
    try:
        return len(text.encode("cp949"))
    except UnicodeEncodeError:
        return None


def _text_problem(text: Any, limit: int) -> str | None:
    if not isinstance(text, str) or not text:
        return "1010"
    size = _euc_kr_size(text)
    if size is None:
        return "1029"
    return "1031" if size > limit else None


def _group_info(accepted: int, failed: int) -> dict[str, Any]:
    return {
        "count": {
            "total": accepted + failed,
            "sentTotal": 0,
            "sentFailed": 0,
            "sentSuccess": 0,
            "sentPending": 0,
            "sentReplacement": 0,
            "refund": 0,
            "registeredFailed": failed,
            "registeredSuccess": accepted,
        },
        "status": "SENDING" if accepted else "FAILED",
        "allowDuplicates": False,
        "groupId": "G4V20260101000000FAKEGROUP000001",
        "accountId": "12925149",
        "apiVersion": "4",
    }


def _failed_entry(entry: dict[str, Any]) -> dict[str, Any]:
    message = entry["message"]
    return {
        "to": message.get("to", ""),
        "from": message.get("from", ""),
        "type": message.get("type", ""),
        "statusMessage": STATUS_MESSAGES.get(entry["statusCode"], "발송 불가"),
        "country": "82",
        "messageId": entry["messageId"],
        "statusCode": entry["statusCode"],
        "accountId": "12925149",
        "customFields": message.get("customFields", {}),
    }


def _listed_entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": entry["messageId"],
        "statusCode": "2000",
        "statusMessage": STATUS_MESSAGES["2000"],
        "customFields": entry["message"].get("customFields", {}),
    }


def _reply(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return _reply(status, {"errorCode": code, "errorMessage": message})


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSolapi

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answer = self.fake.handle(
            Recorded(self.command, self.path, dict(self.headers.items()), body)
        )
        if isinstance(answer, Scripted):
            time.sleep(answer.delay)
            status, headers, raw = answer.status, answer.headers, answer.body
        else:
            status, headers, raw = answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@contextmanager
def running(fake: FakeSolapi) -> Iterator[FakeSolapi]:
    """Serve ``fake`` on a free port of 127.0.0.1 (``fake.url``) until the block ends."""
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
