"""Clear 503s when a part the request needs is down: PostgreSQL, the cache or the task broker (Redis).

Every request that needs a part that is down gets "503 Service Unavailable" with Retry-After and a
sentence naming the part (JSON for the API, a small HTML page otherwise), never a 500 or a
traceback; requests that do not need that part go on working. Nothing here holds state: once the
part is back the next request succeeds, without restarting the ASGI server (Django opens a
database connection per request, CONN_MAX_AGE=0; redis-py and kombu reconnect on their own).

Where the mapping happens:
- DRF views: apps.core.api.exception_handler calls unavailable_response_drf();
- other views: ServiceUnavailableMiddleware.process_exception;
- failures outside a view (a session saved on the way out, a middleware reading the database):
  the got_request_exception receiver marks the request and the middleware turns that 500 into
  the 503 on its way out;
- WebSockets: WebSocketUnavailableGuard accepts and closes the socket with CLOSE_UNAVAILABLE (4503),
  which the map treats like any dropped connection (it retries with backoff).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import psycopg
import redis.exceptions
from django.core.signals import got_request_exception
from django.db import InterfaceError as DbInterfaceError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.deprecation import MiddlewareMixin
from kombu.exceptions import OperationalError as KombuOperationalError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
CLOSE_UNAVAILABLE = 4503  # WebSocket close code: a part is down, reconnect later

DATABASE, CACHE, BROKER = "database", "cache", "broker"

# What the user reads, per part ({what}: the job the broker could not take).
MESSAGES = {
    DATABASE: "Service unavailable: the database (PostgreSQL) is down or restarting. Retry shortly.",
    CACHE: "Service unavailable: the cache (Redis) is down. Retry shortly.",
    BROKER: "Service unavailable: {what} could not be queued because the task broker (Redis) is down. Retry shortly.",
}

# What a part's client raises when the part cannot be reached: the one table the 503 mapping below, the sign-in
# lockout (apps.accounts.lockout) and the task queue (apps.core.queue) read. PostgreSQL: database_unreachable().
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
DOWN_ERRORS: dict[str, tuple[type[BaseException], ...]] = {
    CACHE: REDIS_DOWN,
    # kombu wraps most broker failures in its OperationalError; redis-py's and raw socket errors can still escape.
    BROKER: (KombuOperationalError, *REDIS_DOWN, OSError),
}


class ServiceUnavailable(Exception):
    """A part this request needs is down. `part` is one of DATABASE, CACHE, BROKER; the message
    is what the user reads (MESSAGES[part] unless given; `what` names the job a broker failure lost)."""

    def __init__(self, part: str, message: str | None = None, *, what: str = "the task") -> None:
        self.part = part
        super().__init__(message or MESSAGES[part].format(what=what))


P = ParamSpec("P")
R = TypeVar("R")


def fail_closed(part: str, message: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: when `part` cannot be reached (DOWN_ERRORS), the call raises ServiceUnavailable(part, message)
    (a 503 naming the part) instead of going on without it."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except DOWN_ERRORS[part] as exc:
                raise ServiceUnavailable(part, message) from exc

        return wrapper

    return decorate


def unavailable_part(exc: BaseException | None) -> str | None:
    """Which part is down, if `exc` (or what it was raised from) says a part is unreachable; else
    None. Only explicit causes (`raise ... from`, as Django does wrapping psycopg's errors) are
    followed: a 404 raised while handling something else stays a 404."""
    seen = 0
    while exc is not None and seen < 6:
        if isinstance(exc, ServiceUnavailable):
            return exc.part
        if isinstance(exc, KombuOperationalError):
            return BROKER
        if isinstance(exc, DOWN_ERRORS[CACHE]):
            return CACHE
        if database_unreachable(exc):
            return DATABASE
        exc = exc.__cause__
        seen += 1
    return None


# SQLSTATEs that mean "the server is not there": class 08 (connection exception) and the server shutting down
# (57P01 admin_shutdown, 57P02 crash_shutdown) or not yet accepting connections (57P03 cannot_connect_now).
_DOWN_SQLSTATE_CLASSES = ("08",)
_DOWN_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` itself says PostgreSQL cannot be reached: a connection that failed, was closed or was
    ended by a server shutdown. Other OperationalErrors (a statement or lock timeout, a deadlock, out of
    memory) are errors of this request, not an outage: they stay 500s, logged with their traceback. Django's
    wrappers are judged by the psycopg error they were raised from (unavailable_part follows __cause__)."""
    if isinstance(exc, DbInterfaceError | psycopg.InterfaceError):
        return True  # the connection is already closed
    if isinstance(exc, psycopg.OperationalError):
        # No SQLSTATE: the failure happened before the server answered (refused, reset, timed out).
        sqlstate = exc.sqlstate
        return sqlstate is None or sqlstate.startswith(_DOWN_SQLSTATE_CLASSES) or sqlstate in _DOWN_SQLSTATES
    return False


def message_for(exc: BaseException, part: str) -> str:
    return str(exc) if isinstance(exc, ServiceUnavailable) else ServiceUnavailable(part).args[0]


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def unavailable_answer(part: str, message: str) -> tuple[dict[str, str], dict[str, str]]:
    """The one 503 answer, as (JSON body, headers), for every response builder below."""
    body = {"detail": message, "unavailable": part}
    return body, {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}


def unavailable_response(request: HttpRequest, part: str, message: str) -> HttpResponse:
    """The 503 itself. The HTML page is rendered without the request: its context processors would
    read the session and the user, i.e. the database that may be the part that is down."""
    body, headers = unavailable_answer(part, message)
    if _wants_json(request):
        return JsonResponse(body, status=503, headers=headers)
    html = render_to_string("503.html", {"message": message, "retry_after": RETRY_AFTER_SECONDS})
    return HttpResponse(html, status=503, headers=headers)


def unavailable_response_drf(exc: BaseException) -> Any:
    """For DRF's exception handler: a Response rendered like every other API answer, or None."""
    part = unavailable_part(exc)
    if part is None:
        return None
    from rest_framework.response import Response

    _log(part, exc)
    body, headers = unavailable_answer(part, message_for(exc, part))
    return Response(body, status=503, headers=headers)


def _log(part: str, exc: BaseException) -> None:
    # One line, not a traceback per request: an outage would bury everything else in the log.
    first_line = (str(exc).strip().splitlines() or [""])[0]
    logger.warning("503: %s unavailable: %s: %s", part, type(exc).__name__, first_line)


@receiver(got_request_exception)
def _mark_unavailable(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """An exception no view caught (Django is about to answer 500): remember if a part was down."""
    part = unavailable_part(sys.exc_info()[1])
    if part is not None and request is not None:
        request._rtcc_unavailable = (part, sys.exc_info()[1])  # type: ignore[attr-defined]


class ServiceUnavailableMiddleware(MiddlewareMixin):
    """Turns "a part is down" into a 503 (see the module docstring). Place it before the session,
    authentication and audit middleware, so failures inside them are covered too."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        part = unavailable_part(exception)
        if part is None:
            return None
        _log(part, exception)
        return unavailable_response(request, part, message_for(exception, part))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        marked = getattr(request, "_rtcc_unavailable", None)
        if marked is not None and response.status_code == 500:
            part, exc = marked
            return unavailable_response(request, part, message_for(exc, part))
        return response


ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class WebSocketUnavailableGuard:
    """Wraps the WebSocket stack: when a part is down (the session store while authenticating, the
    channel layer while joining a group, ...), the socket is accepted and closed at once with
    CLOSE_UNAVAILABLE, a clear "come back later", instead of a handshake answered 500.

    Accept-then-close because Daphne turns a close before accept into "403 Access denied", which
    the map would read as a refusal of the user rather than an outage."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        state = {"accepted": False, "closed": False}

        async def tracked(message: dict) -> None:
            kind = message.get("type")
            if kind == "websocket.accept":
                state["accepted"] = True
            elif kind == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            await self.inner(scope, receive, tracked)
        except Exception as exc:
            part = unavailable_part(exc)
            if part is None or state["closed"]:
                raise
            _log(part, exc)
            # The client may be gone already (the part failed under a socket it closed): nothing to tell.
            with contextlib.suppress(Exception):
                if not state["accepted"]:
                    await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": CLOSE_UNAVAILABLE, "reason": f"{part} unavailable"})
