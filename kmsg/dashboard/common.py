"""What every dashboard view shares: the app's context, template rendering and small helpers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast
from urllib.parse import urlencode

import jinja2
import msgspec
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from kmsg.dashboard.auth import DashboardAuth, Session
from kmsg.dashboard.throttle import LoginThrottle
from kmsg.dashboard.throughput import ThroughputMeter
from kmsg.errors import ValidationError
from kmsg.models import JobState
from kmsg.queue import JobQueue
from kmsg.validation import check_name

__all__ = [
    "STATES",
    "DashboardContext",
    "context_of",
    "form_float",
    "form_int",
    "make_templates",
    "path_name",
    "pretty_json",
    "queue_name",
    "redirect",
    "render",
    "segment",
]

HERE: Final = Path(__file__).parent
STATES: Final = tuple(JobState)
DOT_SEGMENTS: Final = frozenset({".", ".."})
ESCAPE: Final = "~"


@dataclass
class DashboardContext:
    """What the views need: the open queue (set by the lifespan), auth, mode and helpers."""

    auth: DashboardAuth
    read_only: bool
    templates: Jinja2Templates
    throttle: LoginThrottle
    throughput: ThroughputMeter = field(default_factory=ThroughputMeter)
    opened: JobQueue | None = None

    @property
    def queue(self) -> JobQueue:
        """The open queue; only valid while the app is running."""
        if self.opened is None:
            raise RuntimeError("the dashboard's queue is not open (is the lifespan running?)")
        return self.opened


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: float | None) -> str:
    if value is None:
        return "-"
    seconds = time.time() - value
    suffix = "ago" if seconds >= 0 else "from now"
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} {suffix}"
    return f"{seconds:.0f}s {suffix}"


def segment(name: str) -> str:
    """A queue name or job id as one URL path segment.

    Names are ``[A-Za-z0-9_.:-]``, safe in a path as they are, except ``.`` and ``..``: browsers
    and HTTP clients remove those segments (``%2e`` too), so they are written ``~.`` and ``~..``
    (``~`` is never part of a name, so no other name is written that way).
    """
    return ESCAPE + name if name in DOT_SEGMENTS else name


def path_name(kind: str, raw: str) -> str:
    """The name a :func:`segment` stands for, validated (``ValidationError`` if not a name)."""
    if raw.startswith(ESCAPE) and raw[1:] in DOT_SEGMENTS:
        return raw[1:]
    return check_name(kind, raw)


def make_templates() -> Jinja2Templates:
    """Templates with autoescape always on (payloads and errors are untrusted text)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["seg"] = segment
    env.globals["states"] = STATES
    return Jinja2Templates(env=env)


def context_of(request: Request) -> DashboardContext:
    """The dashboard context of the app serving ``request``."""
    return cast(DashboardContext, request.app.state.dashboard)


def render(request: Request, template: str, values: dict[str, Any], status: int = 200) -> Response:
    """Render a page with the globals every page needs (user, CSRF token, mode, flash message)."""
    ctx = context_of(request)
    session: Session | None = getattr(request.state, "session", None)
    base = {
        "user": session.user if session else None,
        "csrf": session.csrf if session else "",
        "read_only": ctx.read_only,
        "message": request.query_params.get("msg", ""),
    }
    return ctx.templates.TemplateResponse(request, template, {**base, **values}, status_code=status)


def queue_name(request: Request) -> str:
    """The ``{queue}`` path parameter, unescaped and validated (``ValidationError`` -> 400)."""
    return path_name("queue", request.path_params["queue"])


def redirect(path: str, message: str | None = None) -> RedirectResponse:
    """A 303 redirect after a POST, with an optional message shown on the next page."""
    query = f"?{urlencode({'msg': message})}" if message else ""
    return RedirectResponse(path + query, status_code=303)


def pretty_json(data: bytes | None) -> str:
    """Stored JSON bytes indented for reading; bytes that are not JSON are shown as text."""
    if data is None:
        return ""
    try:
        return msgspec.json.format(data, indent=2).decode()
    except msgspec.DecodeError:
        return data.decode("utf-8", errors="replace")


def form_int(form: FormData, key: str, *, default: int | None = None) -> int | None:
    """An optional integer form field; ``ValidationError`` if it is present but not a number."""
    raw = str(form.get(key) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(f"{key} must be a whole number") from None


def form_float(form: FormData, key: str, *, default: float) -> float:
    """An optional number form field; ``ValidationError`` if it is present but not a number."""
    raw = str(form.get(key) or "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValidationError(f"{key} must be a number") from None
