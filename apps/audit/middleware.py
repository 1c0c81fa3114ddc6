"""Makes the current request available to audit code that has no request argument (model signals).

A permission change made in the admin site arrives at a `post_save` handler with only the model
instance; the audit event still has to say who made it and from where. A context variable (not a
thread-local) keeps that right under ASGI too, where one thread may interleave several requests.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

_current_request: ContextVar[HttpRequest | None] = ContextVar("rtcc_audit_request", default=None)


def current_request() -> HttpRequest | None:
    """The request being handled in this context, if any (None in commands, tasks and the shell)."""
    return _current_request.get()


class AuditRequestMiddleware:
    """Remembers the request for the duration of the view; place it after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            _current_request.reset(token)
