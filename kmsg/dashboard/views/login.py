"""Login and logout: the only pages served before authentication (besides static files)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kmsg.dashboard.auth import Session
from kmsg.dashboard.common import context_of, render
from kmsg.dashboard.middleware import COOKIE_NAME, session_cookie
from kmsg.dashboard.throttle import LoginThrottle

__all__ = ["routes"]


def _safe_next(value: str) -> str:
    """Only same-site absolute paths, so the login form cannot redirect elsewhere."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _form(request: Request, target: str, error: str = "", status: int = 200) -> Response:
    auth = context_of(request).auth
    values = {
        "next": target,
        "token_login": auth.token is not None,
        "password_login": auth.username is not None,
        "error": error,
    }
    return render(request, "login.html", values, status=status)


async def login_page(request: Request) -> Response:
    """The login form (token, or username and password, whichever is configured)."""
    return _form(request, _safe_next(request.query_params.get("next", "/")))


async def login(request: Request) -> Response:
    """Check the credentials; on success start a fresh session (new id and CSRF token).

    A client locked out by the throttle gets 429 with ``Retry-After``, its credentials unchecked.
    """
    ctx = context_of(request)
    auth = ctx.auth
    address = request.client.host if request.client else None
    form = await request.form()
    target = _safe_next(str(form.get("next") or "/"))
    wait = ctx.throttle.retry_after(address)
    if wait > 0:
        shown = LoginThrottle.header(wait)
        response = _form(request, target, f"Too many wrong attempts: try again in {shown} s.", 429)
        response.headers["Retry-After"] = shown
        return response
    token = str(form.get("token") or "")
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    user: str | None = None
    if token and auth.check_token(token):
        user = "token"
    elif username and auth.check_password(username, password):
        user = username
    if user is None:
        ctx.throttle.failed(address)
        return _form(request, target, "Wrong credentials.", 401)
    ctx.throttle.succeeded(address)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.headers.append(
        "set-cookie", session_cookie(auth, auth.new_session(user), secure=secure)
    )
    return response


async def logout(request: Request) -> Response:
    """End the session: it is revoked (its cookie stops working at once) and cleared."""
    session: Session | None = getattr(request.state, "session", None)
    if session is not None:
        context_of(request).auth.revoke(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


def routes(read_only: bool) -> list[BaseRoute]:
    """Login and logout stay available in read-only mode."""
    del read_only
    return [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
