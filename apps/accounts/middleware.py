"""Idle sessions are signed out: a session nobody used for RTCC_SESSION_IDLE_MINUTES is over.

Activity is any signed-in HTTP request (pages and API alike). That includes the requests an open map
makes by itself (layer refreshes, polling without the live socket), on purpose: an open map on a
console is a center at work, and the operator signs it out at the end of a shift. What the timeout
ends is a session no browser is using any more: a closed tab, a laptop shut at the end of a shift,
a cookie copied and tried later. The live socket does not count as activity (a socket left open is
not a person): a socket is refused at connect when its session has gone idle, and an open one is
closed when its session goes idle or is signed out (apps.live.consumer re-checks with the user's
access). A visible map reconciles over REST every few minutes and so stays signed in; a hidden tab
makes no requests and is signed out.

The last-seen time is kept in the session and written at most once a minute, so that a map's burst
of requests does not rewrite the session row on every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

LAST_SEEN_KEY = "rtcc_last_seen"
# Rewrite the stamp at most this often (seconds); the timeout is therefore exact to within a minute.
STAMP_EVERY = 60


def idle_seconds() -> int:
    return int(settings.RTCC_SESSION_IDLE_MINUTES) * 60


def session_is_idle(session: Any, now: float | None = None) -> bool:
    """True if the session carries a last-seen time older than the idle limit. A session without one
    (signed in before this rule, or by a test client) counts as fresh and gets one at its next request."""
    if session is None:
        return False
    last = session.get(LAST_SEEN_KEY)
    if last is None:
        return False
    now = time.time() if now is None else now
    return now - float(last) > idle_seconds()


def session_touch(session: Any, now: float | None = None) -> None:
    """Record activity on the session (at most one write per STAMP_EVERY seconds)."""
    now = time.time() if now is None else now
    last = session.get(LAST_SEEN_KEY)
    if last is None or now - float(last) >= STAMP_EVERY:
        session[LAST_SEEN_KEY] = int(now)


def session_has_ended(session: Any) -> bool:
    """Read afresh from the session store: whether the session was signed out (or flushed, or expired)
    or has gone idle since it was loaded. For a long-lived connection, checked now and then."""
    key = getattr(session, "session_key", None) if session is not None else None
    if not key:
        return True
    current = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    return SESSION_KEY not in current or session_is_idle(current)


class SessionIdleTimeoutMiddleware:
    """Signs out an idle session before the view runs (the view then answers as for anyone signed
    out: the sign-in page for pages, 401/403 for the API); otherwise records the activity.
    Place it after AuthenticationMiddleware and MessageMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if session is not None and user is not None and user.is_authenticated:
            if session_is_idle(session):
                logout(request)
                if hasattr(request, "_messages"):
                    minutes = settings.RTCC_SESSION_IDLE_MINUTES
                    messages.info(request, f"You were signed out after {minutes} minutes without activity.")
            else:
                session_touch(session)
        return self.get_response(request)


class IdleSessionSocketMiddleware:
    """Channels middleware (inside AuthMiddlewareStack): a WebSocket whose session has gone idle is
    handled as signed out, so the consumer refuses it as it refuses anyone signed out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        session = scope.get("session")
        if session is not None and await database_sync_to_async(session_is_idle)(session):
            scope = {**scope, "user": AnonymousUser()}
        return await self.inner(scope, receive, send)
