"""A sensitive look, declared once: the one reason rule and the one audited-read wrapper.

A look at a stream, a plate, a track, a replay, an export or the trail itself is accountable: it
names why (`reason`) and leaves exactly one audit event. Every API view that makes such a look
declares it as an `AuditedRead` (the audit action, how the reason is asked for, how the object is
named) and wraps its method with `audited(read)`; the wrapper parses the reason before the view
runs and refuses to answer 2xx unless the view recorded the look once, through `look.record()`.

The reason rule, the same everywhere (`parse_reason`): surrounding whitespace is
trimmed; at most REASON_MAX_CHARS characters; control characters are refused (C0/C1 controls, line
and paragraph separators, bidirectional overrides that would make the trail read differently from
what it stores, lone surrogates that PostgreSQL cannot store); missing is refused where the
endpoint requires one, with that endpoint's message. Every refusal is a 400 `{"reason": "..."}`.

Every declaration lands in READS, so tests walk all audited endpoints with the same checks.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from apps.core.params import ParamError

from .models import AuditEvent
from .services import audit_record, audit_record_throttled

REASON_MAX_CHARS = 500
# Format characters that reorder how text is shown (Trojan Source): an auditor must read what is stored.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = frozenset(("Cc", "Cs", "Zl", "Zp"))

READS: dict[str, AuditedRead] = {}


def _refused(ch: str) -> bool:
    return ch in _BIDI or unicodedata.category(ch) in _REFUSED_CATEGORIES


def parse_reason(raw: object, *, field: str = "reason", required: str = "", default: str = "") -> str:
    """A reason by the one rule (module docstring); `required` is the message when it is missing,
    `default` what is recorded when an optional one is not given. Raises ParamError (a 400)."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ParamError(field, "must be text")
    text = raw.strip()
    if not text:
        if required:
            raise ParamError(field, required)
        return default
    if len(text) > REASON_MAX_CHARS:
        raise ParamError(field, f"at most {REASON_MAX_CHARS} characters, got {len(text)}")
    bad = next((ch for ch in text if _refused(ch)), None)
    if bad is not None:
        raise ParamError(field, f"must not contain control characters (found U+{ord(bad):04X})")
    return text


@dataclass(frozen=True)
class Reason:
    """How one endpoint asks for its reason. `required`: the message when it is missing (empty:
    optional), or a function of the request giving that message, or "" where it may be left out.
    `default`: recorded when none is given. `source`: the query string, or the request body."""

    required: str | Callable[[Any], str] = ""
    default: str = ""
    field: str = "reason"
    source: str = "query"

    def __post_init__(self) -> None:
        if self.source not in ("query", "body"):
            raise ImproperlyConfigured(f"a reason comes from the query or the body, not {self.source!r}")

    def parse(self, request) -> tuple[str, bool]:
        """The reason to record, and whether the user gave one (rather than the default standing in)."""
        data = request.data if self.source == "body" else request.query_params
        raw = data.get(self.field) if hasattr(data, "get") else None
        required = self.required(request) if callable(self.required) else self.required
        text = parse_reason(raw, field=self.field, required=required)
        return (text, True) if text else (self.default, False)


def _name(obj: Any) -> tuple[str, str]:
    """(object_type, object_id) of what was looked at: a row names itself; a model class or a
    queryset names the kind of rows (an export of many)."""
    if isinstance(obj, models.Model):
        return obj._meta.label_lower, str(obj.pk)
    if isinstance(obj, models.QuerySet):
        return obj.model._meta.label_lower, ""
    if isinstance(obj, type) and issubclass(obj, models.Model):
        return obj._meta.label_lower, ""
    raise TypeError(f"cannot name {obj!r} as an audited object")


@dataclass(frozen=True)
class AuditedRead:
    """One kind of sensitive look. `actions`: the audit action (the first unless the view records
    another of these). `object_type`: the fixed name of what is looked at, when it is not a row
    or model the view hands to `record(obj=...)`. `throttle_seconds`: a look that repeats by itself
    (a map polling) is recorded once per throttle key and window. `target`: how to find the one row
    looked at, from the view (e.g. `lambda view: view.get_object()`): found before the reason is
    read, so a row the user may not see is a 404 whatever the parameters, and named on the event."""

    name: str
    actions: tuple[str, ...]
    reason: Reason = Reason()
    object_type: str = ""
    throttle_seconds: int | None = None
    target: Callable[[Any], Any] | None = None
    via: str = "http"  # or "socket": a live subscription, opened with `watch()` (no request, no typed reason)

    def __post_init__(self) -> None:
        if self.via not in ("http", "socket"):
            raise ImproperlyConfigured(f"audited read {self.name}: via is http or socket, not {self.via!r}")
        if not self.actions:
            raise ImproperlyConfigured(f"audited read {self.name} declares no audit action")
        if READS.get(self.name, self) != self:
            raise ImproperlyConfigured(f"two audited reads are named {self.name}")
        READS[self.name] = self

    def look(self, request, *, obj: Any = None) -> Look:
        """Parse the reason (a 400 when it breaks the rule) and open the look (at `obj`, if one)."""
        reason, given = self.reason.parse(request)
        return Look(read=self, user=request.user, request=request, reason=reason, given=given, obj=obj)

    def watch(self, *, user, ip: str | None = None) -> Look:
        """Open the look of a live subscription: no request to read a reason from, so the default stands."""
        return Look(read=self, user=user, request=_Peer(ip), reason=self.reason.default, given=False)


class _Peer:
    """Where a socket look came from, as audit_record reads it from a request (REMOTE_ADDR)."""

    def __init__(self, ip: str | None):
        self.META = {"REMOTE_ADDR": ip} if ip else {}


@dataclass
class Look:
    """One sensitive look in progress: its parsed reason, and whether it is on record yet."""

    read: AuditedRead
    user: Any
    request: Any
    reason: str
    given: bool  # the user typed the reason (rather than the endpoint's default standing in)
    obj: Any = None  # the row looked at, when the declaration names one (`target`)
    recorded: bool = False
    event: AuditEvent | None = field(default=None, repr=False)

    def record(
        self,
        *,
        obj: Any = None,
        object_id: str | int = "",
        object_type: str = "",
        detail: dict | None = None,
        action: str = "",
        throttle_key: str = "",
    ) -> AuditEvent | None:
        """Write the look's one audit event (None when a throttled look is already on record)."""
        if self.recorded:
            raise ImproperlyConfigured(f"audited read {self.read.name} recorded twice")
        action = action or self.read.actions[0]
        if action not in self.read.actions:
            raise ImproperlyConfigured(f"audited read {self.read.name} does not declare action {action}")
        obj = self.obj if obj is None else obj
        kind, pk = _name(obj) if obj is not None else ("", "")
        event = {
            "user": self.user,
            "action": action,
            "object_type": object_type or kind or self.read.object_type,
            "object_id": object_id or pk,
            "reason": self.reason,
            "detail": detail,
            "request": self.request,
        }
        if throttle_key:
            if not self.read.throttle_seconds:
                raise ImproperlyConfigured(f"audited read {self.read.name} declares no throttle window")
            self.event = audit_record_throttled(
                throttle_key=f"{self.read.name}:{throttle_key}", seconds=self.read.throttle_seconds, **event
            )
        else:
            self.event = audit_record(**event)
        self.recorded = True
        return self.event


def audited(read: AuditedRead | Callable[[Any], AuditedRead | None]) -> Callable:
    """Wrap a view method as the audited read `read`: the reason is parsed first (a 400 names it),
    the method gets the open look as `look=` and must record it once before answering 2xx.

    `read` may be a function of the view choosing the declaration (one view serving several
    registered layers); where it gives None the request is no sensitive look and `look` is None."""

    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(view, request, *args, **kwargs):
            declared = read if isinstance(read, AuditedRead) else read(view)
            look = None
            if declared is not None:
                target = declared.target(view) if declared.target is not None else None
                look = declared.look(request, obj=target)
            response = method(view, request, *args, look=look, **kwargs)
            if look is not None and 200 <= response.status_code < 300 and not look.recorded:
                raise ImproperlyConfigured(f"audited read {look.read.name} answered without recording the look")
            return response

        wrapper.audited_read = read  # type: ignore[attr-defined]
        return wrapper

    return decorate
