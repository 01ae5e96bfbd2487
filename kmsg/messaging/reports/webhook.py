"""The webhook receiver: a small Starlette app that writes gateways' delivery reports to the store.

::

    app = create_webhook_app(
        "sqlite:///kmsg.db",                     # or a ReportStore you opened (and close)
        [NhnWebhook(signature=os.environ["NHN_WEBHOOK_SIGNATURE"])],
    )
    # uvicorn: serve `app`; NHN Cloud's webhook target URL is https://<host>/nhn

``POST /<receiver name>``, one route per receiver
(:class:`~kmsg.messaging.reports.receivers.WebhookReceiver`):

* a body larger than ``max_body_bytes`` is refused with **413** before it is read in full
  (``Content-Length`` checked first, then the bytes as they stream in);
* a missing or wrong signature is **401**, checked before the body is parsed;
* a malformed body is **400**; a store that cannot be reached is **503** (the gateway retries);
* otherwise every report is upserted (:mod:`kmsg.messaging.reports.store`) and the answer is
  **200** ``{"received": n, "changed": m}``. A replayed POST changes nothing (``changed`` 0): the
  store's merge makes the same report twice one state change.

Serving. The app stands alone (``uvicorn --factory kmsg.messaging.reports.webhook:app_from_env``
reads :func:`app_from_env`'s variables) or mounts in any Starlette app, e.g.
``Mount("/delivery-reports", app=create_webhook_app(...))``. It is not mounted in the dashboard:
everything there is behind the dashboard's login and host allow-list, which a gateway cannot
pass; run it beside the dashboard, behind the same TLS proxy, on its own path.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing, asynccontextmanager
from typing import Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kmsg.errors import BackendFull, BackendUnavailable, ValidationError
from kmsg.messaging.reports import open_delivery_store
from kmsg.messaging.reports.receivers import HmacWebhook, NhnWebhook, WebhookReceiver
from kmsg.messaging.reports.store import ReportStore

__all__ = ["DEFAULT_MAX_BODY_BYTES", "app_from_env", "create_webhook_app"]

DEFAULT_MAX_BODY_BYTES: Final = 1 << 20
"""1 MiB: an NHN Cloud POST of 1,000 hooks is about 400 KiB."""

_log = logging.getLogger("kmsg.messaging.reports.webhook")


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as stream:  # closed even when we stop early
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status)


def create_webhook_app(
    store: ReportStore | str,
    receivers: Iterable[WebhookReceiver],
    *,
    queue: str = "default",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The receiver app (module docstring) writing to ``store``.

    ``store`` is a :class:`~kmsg.messaging.reports.store.ReportStore` (the caller closes it) or a
    queue URL, whose store for queue ``queue`` is opened at startup and closed at shutdown.
    ``ValidationError`` if two receivers share a name or there are none.
    """
    by_name: dict[str, WebhookReceiver] = {}
    for receiver in receivers:
        if receiver.name in by_name:
            raise ValidationError(f"two webhook receivers are named {receiver.name!r}")
        by_name[receiver.name] = receiver
    if not by_name:
        raise ValidationError("a webhook app needs at least one receiver")
    held: list[ReportStore] = [] if isinstance(store, str) else [store]

    async def receive(request: Request) -> Response:
        receiver = by_name.get(request.path_params["name"])
        if receiver is None:
            return _error(404, "no such webhook")
        try:
            body = await _read_body(request, max_body_bytes)
        except _TooLarge:
            return _error(413, f"body larger than {max_body_bytes} bytes")
        if not receiver.verify(request.headers, body):
            _log.warning("webhook %s: refused a request with a bad signature", receiver.name)
            return _error(401, "bad signature")
        try:
            records = receiver.parse(body, time.time())
        except ValidationError as exc:
            return _error(400, str(exc))
        try:
            changed = await held[0].upsert_many(records)
        except (BackendUnavailable, BackendFull) as exc:
            _log.error("webhook %s: store unavailable: %s", receiver.name, exc)
            return _error(503, "delivery store unavailable")
        return JSONResponse({"received": len(records), "changed": changed})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if not isinstance(store, str):
            yield
            return
        opened = await open_delivery_store(store, queue=queue)
        held.append(opened)
        try:
            yield
        finally:
            held.clear()
            await opened.aclose()

    return Starlette(routes=[Route("/{name}", receive, methods=["POST"])], lifespan=lifespan)


def app_from_env() -> Starlette:
    """The app configured from the environment (for ``uvicorn --factory``).

    ``K_MSG_QUEUE_URL`` (the store's backend), ``K_MSG_REPORTS_QUEUE`` (default ``default``),
    ``K_MSG_WEBHOOK_NHN_SIGNATURE`` (enables ``POST /nhn``), and ``K_MSG_WEBHOOK_SECRET`` with
    ``K_MSG_WEBHOOK_PROVIDER`` (enables the generic ``POST /<provider>``).
    """
    receivers: list[WebhookReceiver] = []
    signature = os.environ.get("K_MSG_WEBHOOK_NHN_SIGNATURE")
    if signature:
        receivers.append(NhnWebhook(signature))
    secret = os.environ.get("K_MSG_WEBHOOK_SECRET")
    if secret:
        provider = os.environ.get("K_MSG_WEBHOOK_PROVIDER", "webhook")
        receivers.append(HmacWebhook(secret, provider=provider))
    url = os.environ.get("K_MSG_QUEUE_URL", "sqlite:///kmsg.db")
    return create_webhook_app(
        url, receivers, queue=os.environ.get("K_MSG_REPORTS_QUEUE", "default")
    )
