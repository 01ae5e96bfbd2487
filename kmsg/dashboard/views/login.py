"""Login and logout: the only pages served before authentication (besides static files)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kmsg.dashboard.common import context_of, render
from kmsg.dashboard.middleware import COOKIE_NAME, session_cookie

__all__ = ["routes"]


def _safe_next(value: str) -> str:
    """Only same-site absolute paths, so the login form cannot redirect elsewhere."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def login_page(request: Request) -> Response:
    """The login form (token, or username and password, whichever is configured)."""
    auth = context_of(request).auth
    values = {
        "next": _safe_next(request.query_params.get("next", "/")),
        "token_login": auth.token is not None,
        "password_login": auth.username is not None,
        "error": "",
    }
    return render(request, "login.html", values)


async def login(request: Request) -> Response:
    """Check the credentials; on success start a fresh session (new id and CSRF token)."""
    auth = context_of(request).auth
    form = await request.form()
    token = str(form.get("token") or "")
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    user: str | None = None
    if token and auth.check_token(token):
        user = "token"
    elif username and auth.check_password(username, password):
        user = username
    target = _safe_next(str(form.get("next") or "/"))
    if user is None:
        values = {
            "next": target,
            "token_login": auth.token is not None,
            "password_login": auth.username is not None,
            "error": "Wrong credentials.",
        }
        return render(request, "login.html", values, status=401)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    response.headers.append(
        "set-cookie", session_cookie(auth, auth.new_session(user), secure=secure)
    )
    return response


async def logout(request: Request) -> Response:
    """End the session: the cookie is cleared."""
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
