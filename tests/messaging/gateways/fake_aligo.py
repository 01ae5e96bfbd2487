"""A fake Aligo SMS gateway on 127.0.0.1: checks requests as Aligo's API page describes them.

It serves ``POST /send/`` and ``POST /remain/`` (Aligo, "API SPEC 및 연동예제 안내": 문자보내기;
"결과조회 API": 잔여건수 조회) in a thread, so it answers under asyncio and trio alike. Every
request is kept in ``requests`` (path, headers, decoded form). Whatever breaks the documented
shape (not a form POST, an unknown field, a receiver list over 1,000, a ``msg`` over 2,000
EUC-KR bytes, an SMS over 90 bytes, a title on an SMS, ``rdate`` without ``rtime``, ...) is
added to ``violations`` *and* refused, so a test sees it either way.

Replies follow the documented fields: ``result_code`` (``"1"`` on success, as a string, the
way Aligo's JSON often has it; ``remain/`` answers a number), ``message``, ``msg_id``,
``success_cnt``, ``error_cnt``, ``msg_type``; ``SMS_CNT`` / ``LMS_CNT`` / ``MMS_CNT``. Refusals
carry Korean ``message`` sentences like Aligo's; ``-101`` "인증오류입니다." is Aligo's own, the
other negative codes are this fake's (Aligo's code table is not in the stored docs).

``script(...)`` queues canned answers (:class:`Canned`) that replace the next replies, for
status codes, ``Retry-After``, unreadable bodies and hangs.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import parse_qs

KEY: Final = "aligo-test-key-5f3a9c2e71b04d68"
USER_ID: Final = "kmsg_tester"
REGISTERED_SENDERS: Final = frozenset({"0212345678", "15881234"})
KST: Final = dt.timezone(dt.timedelta(hours=9))
_SEND_FIELDS: Final = frozenset(
    {"key", "user_id", "sender", "receiver", "msg", "msg_type", "title", "destination"}
    | {"rdate", "rtime", "testmode_yn"}
)
_MOBILE: Final = re.compile(r"01[016789]\d{7,8}")


@dataclass(frozen=True)
class Canned:
    """An answer to give instead of the next real one."""

    status: int = 200
    body: bytes | dict[str, Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait first (cut short when the fake stops)


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    path: str
    headers: dict[str, str]
    form: dict[str, str]


class FakeAligo:
    """The fake gateway; use as a context manager (``url`` is its base URL)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.violations: list[str] = []
        self.rejected_numbers: set[str] = set()
        self.balance = {"SMS_CNT": 1000, "LMS_CNT": 300, "MMS_CNT": 100}
        self.delivered: list[tuple[str, str, str]] = []  # (receiver, msg_type, msg), not test mode
        self._canned: collections.deque[Canned] = collections.deque()
        self._ids = iter(range(700_000_001, 800_000_000))
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give the provider (``send/`` and ``remain/`` hang off it)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def script(self, *answers: Canned) -> None:
        """Give ``answers`` to the next requests, in order, before answering normally again."""
        self._canned.extend(answers)

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Canned:
        """Record the request and decide the answer."""
        form, problems = _parse_form(headers, raw)
        with self._lock:
            self.requests.append(Received(path, headers, form))
            canned = self._canned.popleft() if self._canned else None
        if canned is not None:
            if canned.hang:
                self._stopping.wait(canned.hang)
            return canned
        if path not in ("/send/", "/remain/"):
            return Canned(404, {"result_code": -1, "message": "not found"})
        if problems:
            return self._violation(problems)
        if form.get("key") != KEY or form.get("user_id") != USER_ID:
            return Canned(200, {"result_code": "-101", "message": "인증오류입니다."})
        if path == "/remain/":
            extra = sorted(set(form) - {"key", "user_id"})
            if extra:
                return self._violation([f"remain/ takes key and user_id only, not {extra}"])
            return Canned(200, {"result_code": 1, "message": "", **self.balance})
        return self._send(form)

    def _violation(self, problems: list[str]) -> Canned:
        with self._lock:
            self.violations.extend(problems)
        return Canned(200, {"result_code": "-900", "message": "fake: " + "; ".join(problems)})

    def _send(self, form: dict[str, str]) -> Canned:
        problems = _send_problems(form)
        if problems:
            return self._violation(problems)
        if form["sender"] not in REGISTERED_SENDERS:
            return Canned(
                200, {"result_code": "-201", "message": "발신번호가 등록되지 않았습니다."}
            )
        if "rdate" in form and not _at_least_ten_minutes_ahead(form["rdate"], form["rtime"]):
            message = "예약시간은 현재시간 기준 10분 이후로 설정해 주세요."
            return Canned(200, {"result_code": "-301", "message": message})
        receivers = form["receiver"].split(",")
        good = [r for r in receivers if _MOBILE.fullmatch(r) and r not in self.rejected_numbers]
        kind = form.get("msg_type") or ("SMS" if _euc_kr_bytes(form["msg"]) <= 90 else "LMS")
        counter = kind + "_CNT"
        with self._lock:
            if self.balance[counter] < len(good):
                return Canned(200, {"result_code": "-401", "message": "잔여 포인트가 부족합니다."})
            if form.get("testmode_yn") != "Y":
                self.balance[counter] -= len(good)
                self.delivered.extend((r, kind, form["msg"]) for r in good)
            msg_id = next(self._ids)
        return Canned(
            200,
            {
                "result_code": "1",
                "message": "success",
                "msg_id": str(msg_id),
                "success_cnt": len(good),
                "error_cnt": len(receivers) - len(good),
                "msg_type": kind,
            },
        )


def _parse_form(headers: dict[str, str], raw: bytes) -> tuple[dict[str, str], list[str]]:
    problems: list[str] = []
    content_type = headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        problems.append(f"not a form POST (Content-Type {content_type!r})")
    try:
        pairs = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        return {}, [*problems, f"form is not UTF-8 url-encoding: {exc}"]
    form: dict[str, str] = {}
    for name, values in pairs.items():
        if len(values) != 1:
            problems.append(f"field {name} given {len(values)} times")
        form[name] = values[0]
    return form, problems


def _euc_kr_bytes(text: str) -> int:
    return len(text.encode("cp949", errors="replace"))


def _send_problems(form: dict[str, str]) -> list[str]:
    problems = [f"unknown field {name}" for name in sorted(set(form) - _SEND_FIELDS)]
    problems += [
        f"{name} is required" for name in ("sender", "receiver", "msg") if not form.get(name)
    ]
    if problems:
        return problems
    if len(form["sender"].encode()) > 16:
        problems.append("sender over 16 bytes")
    receivers = form["receiver"].split(",")
    if len(receivers) > 1000:
        problems.append(f"{len(receivers)} receivers; at most 1,000")
    if len(set(receivers)) != len(receivers):
        problems.append("a receiver repeated")
    size = _euc_kr_bytes(form["msg"])
    if size > 2000:
        problems.append(f"msg is {size} bytes; at most 2,000")
    kind = form.get("msg_type")
    if kind is not None and kind not in ("SMS", "LMS", "MMS"):
        problems.append(f"msg_type {kind!r}")
    if kind == "SMS" and size > 90:
        problems.append(f"an SMS msg of {size} bytes; at most 90")
    if "title" in form:
        if kind == "SMS":
            problems.append("title on an SMS (LMS and MMS only)")
        if not 1 <= _euc_kr_bytes(form["title"]) <= 44:
            problems.append("title must be 1-44 bytes")
    if ("rdate" in form) != ("rtime" in form):
        problems.append("rdate and rtime go together")
    elif "rdate" in form and not (
        re.fullmatch(r"\d{8}", form["rdate"]) and re.fullmatch(r"\d{4}", form["rtime"])
    ):
        problems.append("rdate is YYYYMMDD and rtime HHII")
    if form.get("testmode_yn", "Y") not in ("Y", "N"):
        problems.append("testmode_yn is Y or N")
    return problems


def _at_least_ten_minutes_ahead(rdate: str, rtime: str) -> bool:
    when = dt.datetime.strptime(rdate + rtime, "%Y%m%d%H%M").replace(tzinfo=KST)
    return when.timestamp() >= time.time() + 600 - 60  # the minute's own rounding


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAligo

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self.fake.violations.append(f"GET {self.path}: Aligo's API is POST only")
        self._reply(Canned(405, {"result_code": -1, "message": "POST only"}))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._reply(self.fake.answer(self.path, headers, raw))

    def _reply(self, canned: Canned) -> None:
        body = canned.body
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        try:
            self.send_response(canned.status)
            for name, value in canned.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)
